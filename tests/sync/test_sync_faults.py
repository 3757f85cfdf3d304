"""Injected 429 / body-less 403 / 5xx / slow (timeouts) / dropped connections: the same final state."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from connector.core.model import ConsentAction
from connector.mailchimp.connections import ConnectionCap
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.faults import FaultPlan
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.settings import SyncSettings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.sync.audience import ensure_audience
from connector.sync.connect import gateway_settings
from connector.sync.run import mapping_for, plan_audience, sync_audience
from tests.sync.support import Snapshot, account, list_id, newsletter, snapshot, subscribe, trip, with_sandbox

FAULTS = SandboxKnobs(
    fault_rate_429=0.05,
    fault_rate_403=0.04,
    fault_rate_5xx=0.04,
    fault_rate_slow=0.04,
    slow_ms=4000,
    fault_rate_drop=0.03,
    seed=20261123,
)
"""About 20 % of calls fail one way or another; a slow call (4 s) outlasts the 1.5 s client timeout,
with room for an ordinary call on a loaded machine: which calls time out is the seed's choice, not the
machine's speed (and an extra timeout would only be retried)."""
QUICK_RETRIES = {
    "timeout_seconds": 1.5,
    "max_attempts": 20,
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.05,
}

SMALL_BATCHES = SyncSettings(batch_size=1)
"""Many small calls, so that the faults hit every kind of call (one member per call: new members' tags
ride in their batch subscribe, so the tag calls come only from the second sync's changes)."""


@pytest.fixture(scope="module")
def faulty() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def _people(ctx: AppContext) -> None:
    for index in range(36):
        email = f"folk{index}@firma.no"
        if index % 2 == 0:
            subscribe(ctx, email)
        if index % 3 == 0:
            account(ctx, email)
        if index % 4 == 0:
            trip(ctx, email, departs_in_days=20)
        if index % 6 == 0:
            newsletter(ctx, email, ConsentAction.WITHDRAWN, ctx.now() - timedelta(hours=1))


def _two_syncs(ctx: AppContext, gateway: MailchimpGateway) -> None:
    """An initial sync, then one with opt-outs (untagging) in it."""
    _people(ctx)
    sync_audience(ctx, gateway, "main")
    for index in range(1, 36, 4):
        newsletter(ctx, f"folk{index}@firma.no", ConsentAction.WITHDRAWN, ctx.now())
    subscribe(ctx, "folk1@firma.no", ctx.now() + timedelta(seconds=1))
    sync_audience(ctx, gateway, "main", allow_destructive=True)


def _reference_state(ctx: AppContext, tmp_path: Path, sandbox: SandboxHandle) -> Snapshot:
    """The same story on a fresh SQLite store against a fault-free sandbox."""
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade(url)
    engine = make_engine(url)
    reference = with_sandbox(replace(ctx, engine=engine), sandbox)
    with MailchimpGateway(gateway_settings(reference.settings.mailchimp), cap=ConnectionCap(8)) as gateway:
        _two_syncs(reference, gateway)
    engine.dispose()
    return snapshot(sandbox, list_id(reference))


def test_injected_faults_reach_the_same_final_state(
    ctx: AppContext, tmp_path: Path, sandbox: SandboxHandle, faulty: SandboxHandle
) -> None:
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"sync": SMALL_BATCHES}))
    expected = _reference_state(ctx, tmp_path, sandbox)
    local = with_sandbox(ctx, faulty, **QUICK_RETRIES)
    audience = local.settings.audience("main")
    with MailchimpGateway(gateway_settings(local.settings.mailchimp), cap=ConnectionCap(8)) as gateway:
        ensure_audience(local, gateway, audience, mapping_for(local.settings, audience))
        faulty.runtime.knobs = FAULTS
        faulty.runtime.faults = FaultPlan(FAULTS, FAULTS.seed or 0)
        _two_syncs(local, gateway)
        retries = gateway.stats.snapshot()
    faults = faulty.stats()["faults"]
    assert sum(faults.values()) >= 6, faults  # the faults really happened
    assert len(faults) >= 3, faults
    assert retries.total_retries >= 5
    assert snapshot(faulty, list_id(local)) == expected
    assert len(plan_audience(local, "main", full=True).plan) == 0
