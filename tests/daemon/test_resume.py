"""A daemon killed (kill -9) or stopped (SIGTERM) mid-sync: the run resumes, nothing is sent twice."""

import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.knobs import SandboxKnobs
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, SyncRunRow
from connector.sync.connect import open_gateway
from connector.sync.run import plan_audience
from tests.daemon.conftest import (
    BATCH,
    Deployment,
    apply_calls,
    deploy,
    fewest_calls,
    latest_run,
    operations_by_state,
    subscribe,
    wait_for,
)

CONTACTS = 150
"""30 calls of BATCH members, as long a run as before tags rode in the batch subscribe entries."""
SLOW = SandboxKnobs(latency_per_member_ms=60)  # 300 ms per batch call of BATCH members


@pytest.fixture
def deployment(deployment_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """Slow calls until ``_speed_up``: a second daemon starts well before the first one's run ends."""
    yield from deploy(deployment_url, tmp_path, SLOW)


def _speed_up(deployment: Deployment) -> None:
    deployment.sandbox.runtime.knobs = replace(SLOW, latency_per_member_ms=0)


def _seed(deployment: Deployment) -> AppContext:
    ctx = deployment.context()
    for index in range(CONTACTS):
        subscribe(ctx, f"person{index}@example.no")
    return ctx


def _under_way(ctx: AppContext) -> str:
    """Wait until a sync run has some operations done and some pending; its id."""

    def started() -> bool:
        run = latest_run(ctx)
        return run is not None and operations_by_state(ctx, run.id).get("done", 0) >= 2 * BATCH

    wait_for(started, 30, "a sync run under way")
    run = latest_run(ctx)
    assert run is not None
    assert operations_by_state(ctx, run.id).get("pending", 0) > 0
    return run.id


def _run(ctx: AppContext, run_id: str) -> SyncRunRow:
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        return run


def _assert_sandbox_matches_plan(ctx: AppContext) -> None:
    planned = plan_audience(ctx, "main", full=True)
    assert len(planned.plan) == 0
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, "main")
        assert state is not None
        assert state.list_id is not None
        list_id = state.list_id
    gateway: MailchimpGateway
    with open_gateway(ctx.settings.mailchimp) as gateway:
        remote = {r.subscriber_hash: r.to_remote() for r in gateway.iter_members(list_id)}
    assert len(planned.desired) == CONTACTS
    for key, want in planned.desired.items():
        have = remote[key]
        assert {t for t in have.tags if t.startswith("cs:")} == set(want.tags)
        assert want.status is None or have.status == want.status


def test_killed_leader_mid_sync_is_replaced_and_the_run_resumes(deployment: Deployment) -> None:
    ctx = _seed(deployment)
    leader = deployment.start()
    run_id = _under_way(ctx)
    follower = deployment.start()
    assert leader.leading() is True
    assert follower.leading() is False
    assert operations_by_state(ctx, run_id).get("pending", 0) > 0
    leader.kill()
    _speed_up(deployment)
    wait_for(lambda: follower.leading() is True, 10, "the follower to take over")
    wait_for(lambda: _run(ctx, run_id).status == "done", 60, "the run to finish", interval=0.2)
    run = _run(ctx, run_id)
    assert run.report["resumed"] is True
    assert set(operations_by_state(ctx, run_id)) == {"done"}
    # at most the batch in flight when the leader died went out twice
    assert apply_calls(deployment.sandbox) <= fewest_calls(ctx, run_id) + 1
    _assert_sandbox_matches_plan(ctx)


def test_sigterm_mid_sync_exits_zero_and_the_next_start_resumes(deployment: Deployment) -> None:
    ctx = _seed(deployment)
    first = deployment.start()
    run_id = _under_way(ctx)
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=120) == 0
    # within schedule.shutdown_timeout_seconds, by the daemon's own account (not this machine's speed)
    assert '"daemon.stopped"' in first.logs()
    assert '"clean": true' in first.logs()
    assert _run(ctx, run_id).status == "applying"
    left = operations_by_state(ctx, run_id)
    assert left.get("pending", 0) > 0
    assert '"outcome": "stopped"' in first.logs()
    _speed_up(deployment)
    deployment.start()
    wait_for(lambda: _run(ctx, run_id).status == "done", 60, "the resumed run to finish", interval=0.2)
    run = _run(ctx, run_id)
    assert run.report["resumed"] is True
    assert set(operations_by_state(ctx, run_id)) == {"done"}
    # the call in flight at SIGTERM was finished and recorded: nothing went out twice
    assert apply_calls(deployment.sandbox) == fewest_calls(ctx, run_id)
    _assert_sandbox_matches_plan(ctx)
