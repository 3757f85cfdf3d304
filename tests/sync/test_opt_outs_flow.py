"""Opt-outs always flow, and every recorded fact reaches the next sync: against the sandbox over HTTP,
on SQLite and PostgreSQL (issue 13, items 3 and 4)."""

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlmodel import col

from connector.api.inbox import Delivery, accept_batch
from connector.core.model import RelationshipKind
from connector.core.remote import MemberStatus, subscriber_hash
from connector.core.webhook_events import parse_event
from connector.errors import PlanRefusedError
from connector.imports.service import ImportRequest, run_import
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.services.relationships import end_relationship
from connector.store.engine import unit_of_work
from connector.store.sync_tables import SyncRunRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import plan_audience, sync_audience
from tests.api.conftest import event_body
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, account, list_id, remote_tags, subscribe, with_policy

OPT_OUTS = """email,consent,purpose,channel,given_at,method
kari@example.no,no,newsletter,email,2026-11-23,phone
ola@example.no,no,newsletter,email,2026-11-23 09:30,letter
per@example.no,no,newsletter,email,,kundeservice
liv@example.no,nei,newsletter,e-post,2026-11-23,walked into the shop
"""
PEOPLE = ("kari@example.no", "ola@example.no", "per@example.no", "liv@example.no")


def _import(ctx: AppContext, path: Path, *, apply: bool) -> dict[str, int]:
    request = ImportRequest(paths=[path], source="customer-service", apply=apply, operator="test")
    return run_import(ctx, request).counts()


def test_customer_service_opt_out_list_without_evidence_columns_leaves_the_newsletter(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, tmp_path: Path
) -> None:
    ctx, gateway = synced
    for email in (*PEOPLE, "stays@example.no"):
        subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    path = tmp_path / "opt-outs.csv"
    path.write_text(OPT_OUTS, encoding="utf-8")
    assert _import(ctx, path, apply=False)["withdrawals"] == 4
    counts = _import(ctx, path, apply=True)
    assert (counts["withdrawals"], counts["rows_rejected"]) == (4, 0)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    for email in PEOPLE:
        assert "cs:newsletter" not in remote_tags(sandbox, audience, email), email
    assert "cs:newsletter" in remote_tags(sandbox, audience, "stays@example.no")


def _customers_with_newsletter(ctx: AppContext, count: int) -> list[str]:
    emails = [f"p{i:02d}@example.no" for i in range(count)]
    for email in emails:
        subscribe(ctx, email)
        account(ctx, email)
    return emails


def _account_holders(ctx: AppContext, count: int) -> list[str]:
    """Customers with an account only: members for notices, archived once their account closes."""
    emails = [f"a{i:02d}@example.no" for i in range(count)]
    for email in emails:
        account(ctx, email)
    return emails


def _withdraw_by_import(ctx: AppContext, emails: list[str], tmp_path: Path) -> None:
    path = tmp_path / "withdrawals.csv"
    rows = "".join(f"{email},no,newsletter\n" for email in emails)
    path.write_text("email,consent,purpose\n" + rows, encoding="utf-8")
    _import(ctx, path, apply=True)


def test_thirty_opt_outs_of_forty_flow_without_allow_destructive(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, tmp_path: Path
) -> None:
    ctx, gateway = synced
    emails = _customers_with_newsletter(ctx, 40)
    sync_audience(ctx, gateway, "main")
    _withdraw_by_import(ctx, emails[:30], tmp_path)
    report = sync_audience(ctx, gateway, "main")
    assert report.counts.get("RemoveTags") == 30
    audience = list_id(ctx)
    assert all("cs:newsletter" not in remote_tags(sandbox, audience, e) for e in emails[:30])
    assert all("cs:newsletter" in remote_tags(sandbox, audience, e) for e in emails[30:])


def _end_accounts(ctx: AppContext, clock: FakeClock, emails: list[str]) -> None:
    """The accounts close, and the notices' grace period after closing passes."""
    for email in emails:
        end_relationship(ctx, email, RelationshipKind.ACCOUNT, "ACC-" + email, clock.now, ORIGIN)
    clock.advance(days=ctx.settings.policy.transactional_days_after_service + 1)


def test_a_refused_plan_still_applies_its_opt_outs_and_holds_back_the_bulk_loss(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock, tmp_path: Path
) -> None:
    ctx, gateway = synced
    subscribers = _customers_with_newsletter(ctx, 20)
    holders = _account_holders(ctx, 20)
    sync_audience(ctx, gateway, "main")
    clock.advance(minutes=1)
    _withdraw_by_import(ctx, subscribers[:5], tmp_path)
    _end_accounts(ctx, clock, holders)  # 20 accounts close: a basis lost in bulk
    with pytest.raises(PlanRefusedError, match=r"plan refused for 20 bulk removals.*applied 5 opt-outs"):
        sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    assert all("cs:newsletter" not in remote_tags(sandbox, audience, e) for e in subscribers[:5])
    assert all("cs:newsletter" in remote_tags(sandbox, audience, e) for e in subscribers[5:])
    assert all(_status(sandbox, audience, e) == "subscribed" for e in holders)
    with unit_of_work(ctx.engine) as session:
        runs = [r for r in session.execute(select(SyncRunRow)).scalars() if r.report.get("opt_outs_only")]
        assert [(r.status, r.watermark, r.counts) for r in runs] == [("done", None, {"RemoveTags": 5})]
    clock.advance(minutes=1)
    with pytest.raises(PlanRefusedError, match="for 20 bulk removals"):  # still held back, still due
        sync_audience(ctx, gateway, "main")
    sync_audience(ctx, gateway, "main", allow_destructive=True)
    assert all(_status(sandbox, audience, e) == "archived" for e in holders)
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def _status(sandbox: SandboxHandle, audience: str, email: str) -> str:
    member = sandbox.state.member(audience, subscriber_hash(email))
    assert member is not None
    return member.status.value


def test_bulk_basis_loss_alone_is_still_refused(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    holders = _account_holders(ctx, 30)
    sync_audience(ctx, gateway, "main")
    clock.advance(minutes=1)
    _end_accounts(ctx, clock, holders[:15])
    with pytest.raises(PlanRefusedError, match="plan refused for 15 bulk removals"):
        sync_audience(ctx, gateway, "main")
    with unit_of_work(ctx.engine) as session:
        query = select(col(SyncRunRow.status)).order_by(col(SyncRunRow.started_at))
        statuses = list(session.execute(query).scalars())
        assert statuses[-1] == "refused"
    audience = list_id(ctx)
    assert all(_status(sandbox, audience, e) == "subscribed" for e in holders)


def _deliver(ctx: AppContext, body: bytes) -> None:
    answers = accept_batch(ctx, [Delivery(parse_event(body), body)])
    assert not any(isinstance(a, Exception) for a in answers), answers


def test_resubscription_through_mailchimp_reaches_the_next_incremental_sync(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    ctx = replace(ctx, settings=with_policy(ctx.settings, trust_mailchimp_signup_forms=True))
    email = "kari@example.no"
    subscribe(ctx, email)
    account(ctx, email)  # a customer: stays a member (for notices) while unsubscribed
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    key = subscriber_hash(email)
    clock.advance(hours=1)
    _person(sandbox, audience, email, "unsubscribe")  # the person clicks the unsubscribe link
    _deliver(ctx, _hook("unsubscribe", clock, audience, email, action="unsub", reason="manual"))
    sync_audience(ctx, gateway, "main")
    assert "cs:newsletter" not in remote_tags(sandbox, audience, email)
    clock.advance(days=3)
    gateway.patch_member(audience, key, status=MemberStatus.PENDING)  # Mailchimp's hosted form
    reconcile_audience(ctx, gateway, "main")  # the mirror learns the member is pending
    _person(sandbox, audience, email, "confirm")  # the person clicks Mailchimp's confirmation link
    _deliver(ctx, _hook("subscribe", clock, audience, email, ip_opt="192.0.2.7"))
    clock.advance(minutes=1)
    report = sync_audience(ctx, gateway, "main")
    assert report.counts, "the re-subscription planned nothing"
    assert "cs:newsletter" in remote_tags(sandbox, audience, email)
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def _person(sandbox: SandboxHandle, audience: str, email: str, act: str) -> None:
    url = f"{sandbox.root_url}/_sandbox/lists/{audience}/members/{subscriber_hash(email)}/{act}"
    requests.post(url, json={}, timeout=10).raise_for_status()


def _hook(kind: str, clock: FakeClock, audience: str, email: str, **data: str) -> bytes:
    fired = clock.now - timedelta(seconds=5)
    return event_body(kind, fired, list_id=audience, email=email, merges__EMAIL=email, **data)


def test_an_opt_out_stamped_before_a_sync_read_the_contacts_but_committed_after_reaches_the_next_sync(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    """Found by the chaos run: a webhook batch stamps ``changed_at`` when it starts and commits a moment
    later; a sync that read the contacts in between saved a watermark after the stamp, so no incremental
    sync ever planned the opt-out and the member kept ``cs:newsletter``."""
    ctx, gateway = synced
    email = "ola@example.no"
    subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    stamped = clock.now + timedelta(minutes=5)
    clock.now = stamped + timedelta(milliseconds=40)
    sync_audience(ctx, gateway, "main")  # reads the contacts before the opt-out below commits
    clock.now = stamped  # the batch's own clock reading, older than that sync's watermark
    _deliver(ctx, _hook("unsubscribe", clock, audience, email, action="unsub", reason="manual"))
    clock.now = stamped + timedelta(seconds=30)
    sync_audience(ctx, gateway, "main")
    assert "cs:newsletter" not in remote_tags(sandbox, audience, email)
    assert len(plan_audience(ctx, "main", full=True).plan) == 0
