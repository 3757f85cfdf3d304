"""Properties of the streamed run: whatever the chunk size, it stores (and sends) the operations of the
unstreamed plan, as a multiset, and once applied a plan of the whole audience is empty, the mirror holding
what the sandbox holds."""

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from connector.core.model import ConsentAction, RelationshipKind
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.services.relationships import RelationshipInput, add_relationship
from connector.store.engine import unit_of_work
from connector.store.sync_tables import MirrorMemberRow, PlanOperationRow, SyncRunRow
from connector.sync.progress import SyncProgress
from connector.sync.run import plan_audience, sync_audience
from connector.sync.stored_plan import decode
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, list_id, newsletter, subscribe

PEOPLE = [f"stream{i}@example.no" for i in range(16)]
Change = tuple[str, int]

changes = st.lists(
    st.tuples(st.sampled_from(("subscribe", "withdraw", "account", "trip")), st.integers(0, len(PEOPLE) - 1)),
    min_size=1,
    max_size=8,
)
rounds = st.lists(
    st.tuples(changes, st.integers(1, 7), st.sampled_from((0.001, 1.0, 40.0, 100.0))), min_size=1, max_size=3
)


def _apply(ctx: AppContext, change: Change) -> None:
    what, index = change
    email = PEOPLE[index]
    if what == "subscribe":
        subscribe(ctx, email)
    elif what == "withdraw":
        newsletter(ctx, email, ConsentAction.WITHDRAWN, ctx.now() - timedelta(minutes=1))
    else:
        kind = RelationshipKind.ACCOUNT if what == "account" else RelationshipKind.PURCHASE
        now = ctx.now()
        data = RelationshipInput(
            kind=kind,
            started_at=now - timedelta(days=1),
            reference=f"{what}-{uuid.uuid4()}",
            categories=frozenset({"travel"}),
            service_date=now + timedelta(days=10) if what == "trip" else None,
            opt_out_offered=what == "trip",
        )
        add_relationship(ctx, email, data, ORIGIN)


def _stored(ctx: AppContext, run_id: str) -> Counter[object]:
    query = select(PlanOperationRow).where(col(PlanOperationRow.run_id) == run_id)
    with unit_of_work(ctx.engine) as session:
        return Counter(decode(row) for row in session.execute(query).scalars())


def _mirror_is_the_sandbox(ctx: AppContext, sandbox: SandboxHandle) -> None:
    audience = list_id(ctx)
    query = select(MirrorMemberRow).where(col(MirrorMemberRow.list_id) == audience)
    with unit_of_work(ctx.engine) as session:
        rows = list(session.execute(query).scalars())
    for row in rows:
        member = sandbox.state.member(audience, row.subscriber_hash)
        assert member is not None, row.email
        assert (member.status.value, sorted(member.tags)) == (row.status, sorted(row.tags)), row.email


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=rounds)
def test_a_streamed_plan_is_the_unstreamed_plan_whatever_the_chunk_size(
    synced: tuple[AppContext, MailchimpGateway],
    sandbox: SandboxHandle,
    clock: FakeClock,
    rounds: list[tuple[list[Change], int, float]],
) -> None:
    ctx, gateway = synced
    for round_changes, chunk, days in rounds:
        for change in round_changes:
            _apply(ctx, change)
        clock.advance(days=days)
        expected = Counter(plan_audience(ctx, "main").plan.operations)
        report = sync_audience(ctx, gateway, "main", allow_destructive=True, chunk=chunk)
        assert _stored(ctx, report.run_id) == expected
        assert plan_audience(ctx, "main", full=True).plan.operations == ()
        _mirror_is_the_sandbox(ctx, sandbox)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_streamed_run_reports_planned_sent_and_confirmed(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    for email in PEOPLE[:5]:
        subscribe(ctx, email)
    watch = SyncProgress()
    report = sync_audience(ctx, gateway, "main", chunk=2, watch=watch)
    operations = sum(report.counts.values())
    assert (watch.planned_contacts, watch.planned_operations) == (5, operations)
    assert watch.sent_calls == report.applied.calls >= 1
    assert watch.confirmed_operations == report.applied.done == operations
    assert "planned 5 contacts" in watch.line()
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, report.run_id)
        assert run is not None
        assert run.report["progress"]["confirmed_operations"] == operations
        assert run.report["progress"]["planned_contacts"] == 5
