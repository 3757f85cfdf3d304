"""A contact's life in Mailchimp over time: soft opt-in expiry, opt-out segments, erasure, rejections."""

from dataclasses import replace

from sqlalchemy import select
from sqlmodel import col

from connector.core.model import ConsentAction
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.services.subjects import erase_subject
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow
from connector.store.tables import ContactRow, ErasureRow, SuppressionRow
from connector.sync.run import plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import (
    ORIGIN,
    account,
    list_id,
    mirror_row,
    newsletter,
    remote_tags,
    saved_segment_emails,
    subscribe,
    trip,
    with_policy,
)

Synced = tuple[AppContext, MailchimpGateway]
OFFERS = {"cs:offers", "cs:basis-customer"}


def test_soft_opt_in_expiry_drops_offers_but_keeps_transactional(
    synced: Synced, sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    ctx = replace(ctx, settings=with_policy(ctx.settings, transactional_days_after_service=365))
    trip(ctx, "ola@example.no", departs_in_days=10)
    sync_audience(ctx, gateway, "main")
    assert OFFERS | {"cs:transactional"} <= remote_tags(sandbox, list_id(ctx), "ola@example.no")
    clock.advance(days=10 + 90 + 1)  # past return + the 90-day follow-up
    due = plan_audience(ctx, "main")
    assert [c.email for c in due.inputs.contacts] == ["ola@example.no"]  # due for review, not changed
    sync_audience(ctx, gateway, "main")
    tags = remote_tags(sandbox, list_id(ctx), "ola@example.no")
    assert "cs:transactional" in tags
    assert not tags & OFFERS
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_opt_out_leaves_marketing_segment_but_stays_in_transactional_notices(synced: Synced) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari@example.no")
    account(ctx, "kari@example.no")
    sync_audience(ctx, gateway, "main")
    assert "kari@example.no" in saved_segment_emails(ctx, gateway, "Marketing: newsletter")
    assert "kari@example.no" in saved_segment_emails(ctx, gateway, "Transactional notices")
    newsletter(ctx, "kari@example.no", ConsentAction.WITHDRAWN, ctx.now())
    sync_audience(ctx, gateway, "main")
    assert "kari@example.no" not in saved_segment_emails(ctx, gateway, "Marketing: newsletter")
    assert "kari@example.no" in saved_segment_emails(ctx, gateway, "Transactional notices")
    member = gateway.get_member(list_id(ctx), subscriber_hash("kari@example.no"))
    assert member is not None
    assert member.status.value == "subscribed"  # segments mode: still reachable for notices


def test_erasure_deletes_permanently_and_closes_the_tombstone(
    synced: Synced, sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "eva@example.no")
    sync_audience(ctx, gateway, "main")
    erase_subject(ctx, "eva@example.no", ORIGIN)
    report = sync_audience(ctx, gateway, "main")
    assert report.counts == {"DeletePermanently": 1}
    key = subscriber_hash("eva@example.no")
    assert gateway.get_member(list_id(ctx), key) is None
    assert sandbox.state.audience(list_id(ctx)).members[key].forgotten  # type: ignore[union-attr]
    with unit_of_work(ctx.engine) as session:
        tombstone = session.execute(select(ErasureRow)).scalar_one()
        assert tombstone.mailchimp_done_at is not None
        assert tombstone.mailchimp_outcome == "deleted"
    clock.advance(days=1)
    subscribe(ctx, "eva@example.no")  # she signs up again, newer than the erasure
    again = plan_audience(ctx, "main")
    assert not [op for op in again.plan.operations if op.subscriber_hash == key]  # forgotten: no re-add
    assert gateway.get_member(list_id(ctx), key) is None


def test_re_adding_an_address_deleted_in_mailchimp_is_rejected_as_forgotten_and_suppressed(
    synced: Synced,
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "nils@example.no")
    sync_audience(ctx, gateway, "main")
    key = subscriber_hash("nils@example.no")
    assert gateway.delete_member_permanent(list_id(ctx), key)  # someone erased him in Mailchimp's UI
    newsletter(ctx, "nils@example.no", ConsentAction.CONFIRMED, ctx.now())  # a change: he is looked at
    with unit_of_work(ctx.engine) as session:
        session.get(ContactRow, _contact_id(ctx, "nils@example.no")).first_name = "Nils"  # type: ignore[union-attr]
    report = sync_audience(ctx, gateway, "main", full=True)
    assert any("forgotten" in r or "permanently deleted" in r for r in report.applied.rejections)
    mirror = mirror_row(ctx, "nils@example.no")
    assert mirror is not None
    assert mirror.forgotten
    with unit_of_work(ctx.engine) as session:
        reasons = list(session.execute(select(col(SuppressionRow.reason))).scalars())
    assert "unsubscribed" in reasons
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_invalid_address_is_rejected_with_its_reason(synced: Synced) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kim@example.com")  # Mailchimp refuses fake-looking domains
    subscribe(ctx, "siv@example.no")
    report = sync_audience(ctx, gateway, "main")
    assert report.applied.rejected >= 1
    key = subscriber_hash("kim@example.com")
    with unit_of_work(ctx.engine) as session:
        query = select(PlanOperationRow).where(col(PlanOperationRow.subscriber_hash) == key)
        rows = list(session.execute(query).scalars())
    upsert = next(r for r in rows if r.kind == "upsert")
    assert upsert.state == "rejected"
    assert upsert.outcome is not None
    assert upsert.outcome.startswith("invalid_address")
    assert all(r.state == "rejected" for r in rows)
    assert gateway.get_member(list_id(ctx), subscriber_hash("siv@example.no")) is not None


def _contact_id(ctx: AppContext, email: str) -> str:
    with unit_of_work(ctx.engine) as session:
        found = session.execute(select(col(ContactRow.id)).where(col(ContactRow.email) == email))
        return str(found.scalar_one())
