"""Erasure across audiences, deletions seen by a full reconcile, and archives/deletions via /batches."""

from dataclasses import replace

from sqlalchemy import select
from sqlmodel import col

from connector.core.model import ConsentAction
from connector.core.remote import MemberStatus, subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext
from connector.services.subjects import erase_subject
from connector.settings import AudienceSettings
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow
from connector.store.tables import ConsentEventRow, ErasureRow, SuppressionRow
from connector.sync.erasures import ErasureAudienceRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, account, list_id, mirror_row, newsletter, subscribe

Synced = tuple[AppContext, MailchimpGateway]
TWO_AUDIENCES = (
    AudienceSettings(name="main", purposes=("newsletter", "offers")),
    AudienceSettings(name="shop", purposes=("offers",)),
)


def _tombstone(ctx: AppContext) -> ErasureRow:
    with unit_of_work(ctx.engine) as session:
        return session.execute(select(ErasureRow)).scalar_one()


def test_erasure_closes_only_when_every_audience_is_done(synced: Synced) -> None:
    ctx, gateway = synced
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"audiences": TWO_AUDIENCES}))
    subscribe(ctx, "eva@example.no")
    account(ctx, "eva@example.no")  # transactional: a member of both audiences
    sync_audience(ctx, gateway, "main")
    sync_audience(ctx, gateway, "shop")
    erase_subject(ctx, "eva@example.no", ORIGIN)
    sync_audience(ctx, gateway, "main")
    assert _tombstone(ctx).mailchimp_done_at is None  # "shop" still has her
    report = sync_audience(ctx, gateway, "shop")
    assert report.counts == {"DeletePermanently": 1}
    tombstone = _tombstone(ctx)
    assert tombstone.mailchimp_done_at is not None
    assert tombstone.mailchimp_outcome == "deleted"
    with unit_of_work(ctx.engine) as session:
        parts = {r.audience: r.outcome for r in session.execute(select(ErasureAudienceRow)).scalars()}
    assert parts == {"main": "deleted", "shop": "deleted"}
    for name in ("main", "shop"):
        assert gateway.get_member(list_id(ctx, name), subscriber_hash("eva@example.no")) is None
        assert len(plan_audience(ctx, name, full=True).plan) == 0


def test_full_reconcile_records_a_deletion_made_in_mailchimp(synced: Synced) -> None:
    ctx, gateway = synced
    subscribe(ctx, "nils@example.no")
    account(ctx, "nils@example.no")
    subscribe(ctx, "stays@example.no")  # a read of an emptied list is refused (the inbound guard)
    sync_audience(ctx, gateway, "main")
    assert reconcile_audience(ctx, gateway, "main").deleted == 0  # the first read is complete
    assert gateway.delete_member_permanent(list_id(ctx), subscriber_hash("nils@example.no"))
    assert reconcile_audience(ctx, gateway, "main").deleted == 0  # an incremental read cannot tell
    report = reconcile_audience(ctx, gateway, "main", full=True)
    assert report.deleted == 1
    mirror = mirror_row(ctx, "nils@example.no")
    assert mirror is not None
    assert mirror.forgotten
    with unit_of_work(ctx.engine) as session:
        reasons = set(session.execute(select(col(SuppressionRow.reason))).scalars())
        withdrawn = session.execute(
            select(col(ConsentEventRow.source_ref)).where(col(ConsentEventRow.action) == "withdrawn")
        ).scalars()
        assert "permanently deleted in mailchimp" in set(withdrawn)
    assert reasons == {"unsubscribed"}
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_many_archives_go_out_as_one_batches_job(synced: Synced, sandbox: SandboxHandle) -> None:
    ctx, gateway = synced
    ctx = replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"sync": ctx.settings.sync.model_copy(update={"batch_jobs_above": 2})}
        ),
    )
    emails = [f"leaver{i}@example.no" for i in range(4)]
    for email in emails:
        subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    before = _batch_calls(sandbox)
    for email in emails:
        newsletter(ctx, email, ConsentAction.WITHDRAWN, ctx.now())
    report = sync_audience(ctx, gateway, "main")
    assert report.counts["Archive"] == 4
    assert _batch_calls(sandbox) == before + 1
    for email in emails:
        member = sandbox.state.member(list_id(ctx), subscriber_hash(email))
        assert member is not None
        assert member.status is MemberStatus.ARCHIVED
    with unit_of_work(ctx.engine) as session:
        query = select(PlanOperationRow).where(col(PlanOperationRow.kind) == "archive")
        rows = list(session.execute(query).scalars())
    assert {r.state for r in rows} == {"done"}
    assert all("batch_id" in r.payload for r in rows)
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def _batch_calls(sandbox: SandboxHandle) -> int:
    return sum(sandbox.stats()["endpoints"].get("POST /3.0/batches", {}).values())


def test_a_person_who_signs_up_again_before_the_erasure_is_synced_is_not_deleted(
    synced: Synced, clock: FakeClock
) -> None:
    """The erasure's Mailchimp part is superseded: deleting now would forget the new sign-up for good."""
    ctx, gateway = synced
    subscribe(ctx, "comes.back@example.no")
    sync_audience(ctx, gateway, "main")
    erase_subject(ctx, "comes.back@example.no", ORIGIN)
    clock.advance(hours=2)
    subscribe(ctx, "comes.back@example.no", at=clock.advance(minutes=1))  # a new contact, before any sync
    report = sync_audience(ctx, gateway, "main")
    assert "DeletePermanently" not in report.counts
    key = subscriber_hash("comes.back@example.no")
    member = gateway.get_member(list_id(ctx), key)
    assert member is not None
    assert member.status == MemberStatus.SUBSCRIBED
    tombstone = _tombstone(ctx)
    assert tombstone.mailchimp_outcome == "superseded: the address signed up again"
    assert tombstone.mailchimp_subscriber_hash is None
    for full in (False, True):
        assert "DeletePermanently" not in plan_audience(ctx, "main", full=full).plan.counts()
    assert gateway.get_member(list_id(ctx), key) is not None


def test_a_person_who_comes_back_without_consent_loses_the_erased_contacts_marketing(
    synced: Synced, clock: FakeClock
) -> None:
    """Erased, then back as a customer before any sync: the member stays, without the old newsletter tag.

    Found by the incremental property (erase, then a purchase): the mirror had forgotten the tags along with
    the address, so the sync never took ``cs:newsletter`` off the member it kept.
    """
    ctx, gateway = synced
    subscribe(ctx, "comes.back@example.no")
    sync_audience(ctx, gateway, "main")
    key = subscriber_hash("comes.back@example.no")
    held = gateway.get_member(list_id(ctx), key)
    assert held is not None
    assert "cs:newsletter" in held.tags
    erase_subject(ctx, "comes.back@example.no", ORIGIN)
    clock.advance(minutes=1)
    account(ctx, "comes.back@example.no")  # a new contact: notices only
    sync_audience(ctx, gateway, "main")
    member = gateway.get_member(list_id(ctx), key)
    assert member is not None
    assert "cs:newsletter" not in member.tags
    for full in (False, True):
        assert plan_audience(ctx, "main", full=full).plan.operations == ()


def test_a_person_who_comes_back_gets_the_erased_contacts_name_taken_off_the_member_kept(
    synced: Synced, clock: FakeClock
) -> None:
    """Erased, then back (a new consent, no name) before the deletion reached Mailchimp: the member is
    kept for the new contact, and Mailchimp keeps nothing of the erased contact's name.

    Found by the incremental property (contact with a name, sync, erase, consent, purchase): the mirror had
    dropped the merge fields with the address, so the sync believed FNAME empty and left "Kari" there.
    """
    ctx, gateway = synced
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput("kari@example.no", first_name="Kari"), ORIGIN, ctx.now())
    subscribe(ctx, "kari@example.no")
    sync_audience(ctx, gateway, "main")
    key = subscriber_hash("kari@example.no")
    held = gateway.get_member(list_id(ctx), key)
    assert held is not None
    assert held.merge_fields.get("FNAME") == "Kari"
    erase_subject(ctx, "kari@example.no", ORIGIN)
    clock.advance(minutes=1)
    subscribe(ctx, "kari@example.no", at=ctx.now())  # a new contact, with no name
    sync_audience(ctx, gateway, "main")
    member = gateway.get_member(list_id(ctx), key)
    assert member is not None
    assert member.status is MemberStatus.SUBSCRIBED
    assert "cs:newsletter" in member.tags
    assert member.merge_fields.get("FNAME", "") == ""
    for full in (False, True):
        assert plan_audience(ctx, "main", full=full).plan.operations == ()
