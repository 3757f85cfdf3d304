"""Archived members are read back by a complete reconcile (Mailchimp lists them only when asked for
``status=archived``): a marketer's edit of an archived member is seen, and a member archived by hand in
Mailchimp is not taken for one deleted for good. Against the sandbox over HTTP, on SQLite and PostgreSQL."""

from sqlalchemy import select
from sqlmodel import col

from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow, SuppressionRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import sync_audience
from tests.conftest import FakeClock
from tests.sync.support import list_id, mirror_row, remote_tags, subscribe


def _status(sandbox: SandboxHandle, audience: str, email: str) -> str:
    member = sandbox.state.member(audience, subscriber_hash(email))
    assert member is not None
    return member.status.value


def test_a_tag_given_to_an_archived_member_is_gone_when_the_member_comes_back(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    email = "kari.archived@example.no"
    subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    assert gateway.archive_member(audience, subscriber_hash(email))  # archived, then edited by hand
    assert gateway.update_member_tags(audience, subscriber_hash(email), active=["cs:offers"]) is None
    clock.advance(minutes=1)
    reconcile_audience(ctx, gateway, "main", full=True)
    row = mirror_row(ctx, email)
    assert row is not None
    assert (row.status, "cs:offers" in row.tags) == ("archived", True)
    clock.advance(minutes=1)
    sync_audience(ctx, gateway, "main")
    assert _status(sandbox, audience, email) == "subscribed"
    assert "cs:offers" not in remote_tags(sandbox, audience, email)
    assert "cs:newsletter" in remote_tags(sandbox, audience, email)


def test_a_member_archived_by_hand_keeps_its_consent_and_is_not_recorded_deleted(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    email = "ola.archived@example.no"
    subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    assert gateway.archive_member(audience, subscriber_hash(email))
    clock.advance(minutes=1)
    report = reconcile_audience(ctx, gateway, "main", full=True)
    assert report.deleted == 0
    row = mirror_row(ctx, email)
    assert row is not None
    assert (row.status, row.forgotten) == ("archived", False)
    with unit_of_work(ctx.engine) as session:
        actions = set(session.execute(select(col(ConsentEventRow.action))).scalars())
        suppressions = session.execute(select(SuppressionRow)).scalars().all()
    assert "withdrawn" not in actions
    assert suppressions == []
    clock.advance(minutes=1)
    sync_audience(ctx, gateway, "main")  # the store still holds the consent: the member is back
    assert _status(sandbox, audience, email) == "subscribed"
    assert "cs:newsletter" in remote_tags(sandbox, audience, email)
