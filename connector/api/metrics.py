"""Prometheus metrics of one app, on its own registry (so several apps in one process never collide).

With several worker processes (``serve --workers N``) prometheus_client runs in multiprocess mode: ``serve``
points ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's own variable, read by the library when it is
imported) at a fresh directory before the workers start, every worker writes its counters and histograms
there, and ``/metrics`` on any worker exposes their sum (:class:`MultiProcessCollector`) beside the gauges
read from the store, which every worker reads alike.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from connector.mailchimp.metrics import GatewayTotalsCollector, forward_totals_to_multiprocess
from connector.services.context import AppContext
from connector.store.console_tables import CampaignCheckRow
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, PlanOperationRow, SyncRunRow

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
LAG_BUCKETS = (0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    """Where this app's metrics are registered (the daemon adds its own in ``run``)."""
    exposition: CollectorRegistry
    """What ``/metrics`` shows: ``registry``, or in multiprocess mode every worker's sum and the store's."""
    webhooks_received: Counter
    webhooks_rejected: Counter
    webhook_lag: Histogram
    webhook_batch_size: Histogram
    webhook_batch_fallbacks: Counter
    admin_calls: Counter


def build_metrics(ctx: AppContext) -> Metrics:
    registry = CollectorRegistry()
    store = _StoreCollector(ctx)
    registry.register(store)
    shared = os.environ.get(MULTIPROCESS_VARIABLE)
    if shared:
        exposition = CollectorRegistry()
        MultiProcessCollector(exposition, path=shared)  # type: ignore[no-untyped-call]
        exposition.register(store)
        forward_totals_to_multiprocess()
    else:
        registry.register(GatewayTotalsCollector())
        exposition = registry
    return Metrics(
        registry=registry,
        exposition=exposition,
        webhooks_received=Counter(
            "consent_sync_webhooks_received",
            "Mailchimp webhook events accepted, by type and outcome (applied, recorded, duplicate).",
            ["type", "outcome"],
            registry=registry,
        ),
        webhooks_rejected=Counter(
            "consent_sync_webhooks_rejected",
            "Webhook calls refused, by reason (secret, signature, payload, store).",
            ["reason"],
            registry=registry,
        ),
        webhook_lag=Histogram(
            "consent_sync_webhook_inbox_lag_seconds",
            "Seconds between Mailchimp's fired_at and the event's commit to the inbox.",
            buckets=LAG_BUCKETS,
            registry=registry,
        ),
        webhook_batch_size=Histogram(
            "consent_sync_webhook_batch_size",
            "Webhook events per committed inbox transaction (group commit; 1 for each retried event).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        webhook_batch_fallbacks=Counter(
            "consent_sync_webhook_batch_fallbacks",
            "Inbox batches whose transaction failed and were retried one event per transaction.",
            registry=registry,
        ),
        admin_calls=Counter(
            "consent_sync_admin_calls",
            "Admin API calls, by route and status code.",
            ["route", "status"],
            registry=registry,
        ),
    )


@contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """``PROMETHEUS_MULTIPROC_DIR`` for the worker processes started inside the block.

    A directory already named by the variable is emptied first (its files are a previous run's counts, as
    prometheus_client requires); otherwise a fresh temporary one is made and removed afterwards.
    """
    given = os.environ.get(MULTIPROCESS_VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="consent-sync-metrics-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        shutil.rmtree(path, ignore_errors=True)


class _StoreCollector(Collector):
    """Sync runs by kind and status, and persisted operations by state, read from the store at scrape."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily(
            "consent_sync_sync_runs", "Sync runs in the store.", labels=["kind", "status"]
        )
        operations = GaugeMetricFamily(
            "consent_sync_plan_operations", "Persisted plan operations, by state.", labels=["state"]
        )
        held = GaugeMetricFamily(
            "consent_sync_reconcile_inbound_held_members",
            "Members whose opt-out, bounce or deletion a reconcile held back (inbound guard), by audience.",
            labels=["audience"],
        )
        campaigns = GaugeMetricFamily(
            "consent_sync_flagged_campaigns",
            "Unsent campaigns the last campaign guard check flagged, by audience.",
            labels=["audience"],
        )
        with unit_of_work(self._ctx.engine) as session:
            checks = select(col(CampaignCheckRow.audience), col(CampaignCheckRow.flagged))
            for audience, count in session.execute(checks):
                campaigns.add_metric([audience], count)
            by_run = select(col(SyncRunRow.kind), col(SyncRunRow.status), func.count())
            for kind, status, count in session.execute(
                by_run.group_by(col(SyncRunRow.kind), col(SyncRunRow.status))
            ):
                runs.add_metric([kind, status], count)
            by_state = select(col(PlanOperationRow.state), func.count()).group_by(col(PlanOperationRow.state))
            for state, count in session.execute(by_state):
                operations.add_metric([state], count)
            holds = select(col(AudienceStateRow.audience), col(AudienceStateRow.inbound_hold))
            for audience, hold in session.execute(holds):
                held.add_metric([audience], int((hold or {}).get("members", 0)))
        yield runs
        yield operations
        yield held
        yield campaigns
