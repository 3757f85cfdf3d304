"""What reconcile records reaches the next incremental sync (issue 13, item 4): examples against the
sandbox over HTTP, on SQLite and PostgreSQL. ``test_incremental_properties.py`` drives random sequences."""

from connector.core.remote import MemberStatus, subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import MemberWrite
from connector.services.context import AppContext
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import account, list_id, subscribe


def _planned_emails(ctx: AppContext) -> list[str]:
    return [c.email or "" for c in plan_audience(ctx, "main").inputs.contacts]


def test_a_deletion_marks_a_contact_added_after_the_member_was_read(
    synced: tuple[AppContext, MailchimpGateway], clock: FakeClock
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "stays@example.no")
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    gateway.upsert_member(  # signed up in Mailchimp; the mirror learns it with no contact of ours
        audience, MemberWrite("walkin@example.no", status_if_new=MemberStatus.SUBSCRIBED)
    )
    reconcile_audience(ctx, gateway, "main", full=True)
    clock.advance(minutes=10)
    account(ctx, "walkin@example.no")  # the shop knows the person now
    sync_audience(ctx, gateway, "main", contact="walkin@example.no")  # leaves the watermark alone
    clock.advance(minutes=10)
    sync_audience(ctx, gateway, "main")
    assert gateway.delete_member_permanent(audience, subscriber_hash("walkin@example.no"))
    clock.advance(minutes=10)
    reconcile_audience(ctx, gateway, "main", full=True)
    assert _planned_emails(ctx) == ["walkin@example.no"]


def test_merge_fields_edited_in_mailchimp_reach_the_next_incremental_sync(
    synced: tuple[AppContext, MailchimpGateway], clock: FakeClock
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari@example.no")
    sync_audience(ctx, gateway, "main")
    clock.advance(minutes=10)
    key = subscriber_hash("kari@example.no")
    gateway.patch_member(list_id(ctx), key, merge_fields={"FNAME": "Someone else"})
    reconcile_audience(ctx, gateway, "main", full=True)
    assert _planned_emails(ctx) == ["kari@example.no"]
    report = sync_audience(ctx, gateway, "main")
    assert report.counts == {"UpsertMember": 1}
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_a_change_committed_after_a_sync_read_the_store_is_in_the_next_one(
    synced: tuple[AppContext, MailchimpGateway], clock: FakeClock
) -> None:
    ctx, gateway = synced
    started = clock.now
    clock.advance(minutes=1)
    sync_audience(ctx, gateway, "main")  # reads the store while the sign-up below is under way
    clock.now = started  # the sign-up's transaction read the clock before the sync did
    subscribe(ctx, "late@example.no")
    clock.advance(minutes=2)
    assert _planned_emails(ctx) == ["late@example.no"]
    clock.advance(seconds=ctx.settings.sync.change_overlap_seconds)
    sync_audience(ctx, gateway, "main")
    assert _planned_emails(ctx) == []
