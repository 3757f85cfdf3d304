"""Progress of a sync run: planned / sent / confirmed and an ETA, in the run report and as the daemon's
Prometheus metrics, after a real sync against the sandbox."""

import math

from prometheus_client import CollectorRegistry
from sqlmodel import col, select

from connector.daemon.metrics import DaemonMetrics
from connector.daemon.worker import Worker
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import SyncRunRow
from connector.sync.progress import SyncProgress
from tests.sync.support import subscribe

PEOPLE = [f"progress{i}@example.no" for i in range(7)]
MEASURES = (
    "planned_contacts",
    "planned_operations",
    "estimated_calls",
    "sent_calls",
    "sent_operations",
    "confirmed_operations",
    "planning_done",
    "eta_seconds",
)


def _metric(registry: CollectorRegistry, measure: str) -> float | None:
    return registry.get_sample_value(f"consent_sync_sync_{measure}", {"audience": "main"})


def test_the_daemons_metrics_show_the_runs_progress(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    for email in PEOPLE:
        subscribe(ctx, email)
    metrics = DaemonMetrics.create(CollectorRegistry())
    assert _metric(metrics.registry, "planned_contacts") is None  # no run yet: no series
    Worker(ctx, gateway, metrics, lambda: False).sync("main")
    with unit_of_work(ctx.engine) as session:
        run = session.exec(select(SyncRunRow).where(col(SyncRunRow.kind) == "sync")).one()
        progress, calls = run.report["progress"], run.calls
        operations = sum(run.counts.values())
    registry = metrics.registry
    assert operations >= len(PEOPLE)  # a new member each, and their tags
    assert _metric(registry, "planned_contacts") == len(PEOPLE) == progress["planned_contacts"]
    assert _metric(registry, "planned_operations") == operations == progress["planned_operations"]
    assert _metric(registry, "estimated_calls") == calls == progress["estimated_calls"]
    assert _metric(registry, "sent_calls") == progress["sent_calls"] >= 1
    assert _metric(registry, "sent_operations") == operations == progress["sent_operations"]
    assert _metric(registry, "confirmed_operations") == operations == progress["confirmed_operations"]
    assert _metric(registry, "planning_done") == 1.0
    assert progress["planning_done"] is True
    eta = _metric(registry, "eta_seconds")
    assert eta is not None
    assert math.isnan(eta)  # nothing left to send: no ETA
    assert progress["eta_seconds"] is None
    assert {m: _metric(registry, m) is not None for m in MEASURES} == dict.fromkeys(MEASURES, True)
    members = sandbox.state.data.audiences[run.list_id].members
    assert len(members) == len(PEOPLE)


def test_the_eta_is_the_rate_so_far_times_the_calls_left() -> None:
    progress = SyncProgress(estimated_calls=10, sent_calls=0, started=0.0)
    assert progress.eta_seconds() is None  # before the first call
    progress.sent_calls = 4  # 4 calls in (monotonic now - 0) seconds: 6 to go at that rate
    eta = progress.eta_seconds()
    assert eta is not None
    assert eta > 0
    assert "ETA" in progress.line()
    assert "sent 4 of ~10 calls" in progress.line()
    progress.sent_calls = 10
    assert progress.eta_seconds() is None
