"""Re-permission campaigns over real HTTP against the sandbox (issue 16 item 5), on SQLite and PostgreSQL.

One run: plan (who and why, who is left out and why) → send (members ``pending``, Mailchimp's confirmation
e-mail in the sandbox's outbox) → a normal sync leaves them pending → a second send asks nobody twice →
the person clicks the link (the sandbox's ``subscribe`` webhook, or a reconcile seeing ``pending`` →
``subscribed``): a fresh, confirmed consent with the campaign's notice version → the deadline passes: the
stale consent of who did not confirm ends ("not re-confirmed"), only that one → an objector and a person
who withdrew are never asked.
"""

from dataclasses import replace
from datetime import timedelta

import requests
from sqlalchemy import select
from sqlmodel import col

from connector.api.inbox import Delivery, accept_batch
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.remote import MemberStatus, subscriber_hash
from connector.core.repermission import AskReason, LeftOutReason
from connector.core.specificity import NOTICE_UNKNOWN
from connector.core.transitions import Source
from connector.core.webhook_events import parse_event
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.sandbox.webhook_events import EventContext, encode, events_for
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext
from connector.services.explain import explain_contact
from connector.services.objections import record_objection
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.repermission import (
    campaign_spec,
    campaign_status,
    plan_campaign,
    send_campaign,
)
from connector.sync.repermission_answers import expire_due
from connector.sync.run import plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, list_id, subscribe

LEGACY = "legacy@example.no"
UNCONFIRMED = "unconfirmed@example.no"
SILENT = "silent@example.no"
OBJECTOR = "objector@example.no"
WITHDRAWN = "withdrawn@example.no"
FRESH = "fresh@example.no"


def _legacy(ctx: AppContext, email: str, purpose: str = "newsletter") -> None:
    """A consent from an old list: its notice text was never recorded."""
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=400),
        method=ConsentMethod.IMPORT,
        notice_version=NOTICE_UNKNOWN,
        recorded_by=Actor.PERSON,
        source_ref="old-list.csv row 2",
    )
    record_consent(ctx, email, [purpose], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN)


def _unconfirmed(ctx: AppContext, email: str) -> None:
    """A form sign-up whose double opt-in never came back."""
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=20),
        method=ConsentMethod.FORM,
        notice_version="form-v1",
        recorded_by=Actor.PERSON,
        double_opt_in_requested_at=ctx.now() - timedelta(days=20),
    )
    record_consent(ctx, email, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN)


def _offers(ctx: AppContext, email: str) -> None:
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=3),
        method=ConsentMethod.CHECKOUT,
        notice_version="offers-v3",
        recorded_by=Actor.PERSON,
    )
    record_consent(ctx, email, ["offers"], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN)


def _people(ctx: AppContext) -> None:
    _legacy(ctx, LEGACY)
    _unconfirmed(ctx, UNCONFIRMED)
    _legacy(ctx, SILENT)
    _offers(ctx, SILENT)  # another purpose, specific and fresh: expiry never touches it
    _legacy(ctx, OBJECTOR)
    record_objection(ctx, OBJECTOR, ORIGIN, occurred_at=ctx.now() - timedelta(days=2))
    _legacy(ctx, WITHDRAWN)
    withdrawal = Evidence(
        occurred_at=ctx.now() - timedelta(days=1), method=ConsentMethod.EMAIL, recorded_by=Actor.PERSON
    )
    record_consent(ctx, WITHDRAWN, ["newsletter"], Channel.EMAIL, ConsentAction.WITHDRAWN, withdrawal, ORIGIN)
    subscribe(ctx, FRESH)


def _status(sandbox: SandboxHandle, audience: str, email: str) -> MemberStatus | None:
    member = sandbox.state.member(audience, subscriber_hash(email))
    return member.status if member is not None else None


def _outbox(sandbox: SandboxHandle) -> list[dict[str, str]]:
    answer = requests.get(f"{sandbox.root_url}/_sandbox/outbox", timeout=10)
    answer.raise_for_status()
    messages: list[dict[str, str]] = answer.json()["messages"]
    return messages


def _click(sandbox: SandboxHandle, message: dict[str, str]) -> None:
    """The person clicks the link of Mailchimp's confirmation e-mail."""
    answer = requests.post(f"{sandbox.root_url}{message['confirm_url']}", json={}, timeout=10)
    assert answer.status_code == 200, answer.text


def _subscribe_hook(sandbox: SandboxHandle, audience: str, email: str, clock: FakeClock) -> bytes:
    """The ``subscribe`` webhook the sandbox fires for the confirmation (pending → subscribed)."""
    after = sandbox.state.member(audience, subscriber_hash(email))
    assert after is not None
    assert after.status is MemberStatus.SUBSCRIBED
    context = EventContext(audience, "a1b2c3", clock.now)
    (event,) = events_for(replace(after, status=MemberStatus.PENDING), after, Source.USER, context)
    assert event.type == "subscribe"
    return encode(event)


def _decision(ctx: AppContext, email: str, purpose: str = "newsletter") -> tuple[bool, str]:
    found = explain_contact(ctx, email).entitlement.decision(purpose, Channel.EMAIL)
    assert found is not None
    return found.allowed, found.reason


def _newest_grant(ctx: AppContext, email: str) -> ConsentEventRow:
    with unit_of_work(ctx.engine) as session:
        contact = session.execute(select(ContactRow).where(col(ContactRow.email) == email)).scalar_one()
        query = (
            select(ConsentEventRow)
            .where(
                col(ConsentEventRow.contact_id) == contact.id,
                col(ConsentEventRow.purpose) == "newsletter",
                col(ConsentEventRow.action) == "given",
            )
            .order_by(col(ConsentEventRow.occurred_at).desc())
        )
        row = session.execute(query).scalars().first()
        assert row is not None
        session.expunge(row)
        return row


def test_a_repermission_run_against_the_sandbox(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    _people(ctx)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    assert _status(sandbox, audience, LEGACY) is MemberStatus.SUBSCRIBED  # legacy accepted by the policy
    before = len(_outbox(sandbox))

    # plan: who is asked and why, who is left out and why
    spec = campaign_spec(ctx, "main", "newsletter", notice_version="reperm-2026", expires_days=30)
    plan = plan_campaign(ctx, spec, ctx.now())
    asked = {a.email: a.reason for a in plan.asked}
    assert asked == {LEGACY: AskReason.LEGACY, SILENT: AskReason.LEGACY, UNCONFIRMED: AskReason.UNCONFIRMED}
    left = {x.email: x.reason for x in plan.left_out}
    assert left == {
        OBJECTOR: LeftOutReason.OBJECTED,
        WITHDRAWN: LeftOutReason.WITHDRAWN,
        FRESH: LeftOutReason.CURRENT,
    }

    # send: pending in Mailchimp, and Mailchimp's confirmation e-mail in the sandbox's outbox
    asked_about: list[int] = []
    report = send_campaign(ctx, gateway, spec, ORIGIN, lambda _spec, n: asked_about.append(n) or True)
    assert report.asked_now == 3
    assert report.status == "sent"
    for email in (LEGACY, SILENT, UNCONFIRMED):
        assert _status(sandbox, audience, email) is MemberStatus.PENDING
    messages = {m["to"]: m for m in _outbox(sandbox)[before:]}
    assert set(messages) == {LEGACY, SILENT, UNCONFIRMED}
    assert OBJECTOR not in messages
    assert WITHDRAWN not in messages
    assert _status(sandbox, audience, OBJECTOR) is not MemberStatus.PENDING

    # a normal sync leaves the pending members pending; a second send asks nobody twice
    clock.advance(minutes=1)
    sync_audience(ctx, gateway, "main", full=True)
    for email in (LEGACY, SILENT, UNCONFIRMED):
        assert _status(sandbox, audience, email) is MemberStatus.PENDING
    again = send_campaign(ctx, gateway, spec, ORIGIN, lambda _spec, _n: True)
    assert again.asked_now == 0
    assert len(_outbox(sandbox)) == before + 3

    # confirmations: the subscribe webhook for one, a reconcile for the other
    clock.advance(days=2)
    _click(sandbox, messages[UNCONFIRMED])
    _click(sandbox, messages[LEGACY])
    body = _subscribe_hook(sandbox, audience, UNCONFIRMED, clock)
    answers = accept_batch(ctx, [Delivery(parse_event(body), body)])
    assert not any(isinstance(a, Exception) for a in answers), answers
    reconcile_audience(ctx, gateway, "main")
    for email in (LEGACY, UNCONFIRMED):
        allowed, reason = _decision(ctx, email)
        assert allowed, reason
        assert "notice reperm-2026" in reason
        assert "confirmed" in reason
        grant = _newest_grant(ctx, email)
        assert grant.notice_version == "reperm-2026"
        assert grant.source == "repermission"
        assert grant.source_ref is not None
        assert spec.id in grant.source_ref
    sync_audience(ctx, gateway, "main")
    assert _status(sandbox, audience, LEGACY) is MemberStatus.SUBSCRIBED
    member = sandbox.state.member(audience, subscriber_hash(LEGACY))
    assert member is not None
    assert "cs:newsletter" in member.tags

    # the deadline passes: the silent member's stale consent ends, only that one
    allowed, _reason = _decision(ctx, SILENT)
    assert allowed  # while pending, the legacy consent still counts as the policy says
    clock.advance(days=29)
    ended = expire_due(ctx, ctx.now())
    assert ended.ended == 1
    allowed, reason = _decision(ctx, SILENT)
    assert not allowed
    assert "not re-confirmed" in reason
    assert _decision(ctx, SILENT, "offers")[0]
    assert _decision(ctx, LEGACY)[0]  # the confirmed one keeps its fresh consent
    status = campaign_status(ctx, spec.id)
    assert status.totals == {"confirmed": 2, "expired": 1}

    # a later campaign never asks the objector, the one who withdrew, nor the one who did not confirm
    later = campaign_spec(ctx, "main", "newsletter", notice_version="reperm-2027", campaign_id="later")
    replanned = plan_campaign(ctx, later, ctx.now())
    assert {a.email for a in replanned.asked} == set()
    reasons = {x.email: x.reason for x in replanned.left_out}
    assert reasons[OBJECTOR] is LeftOutReason.OBJECTED
    assert reasons[WITHDRAWN] is LeftOutReason.WITHDRAWN
    assert reasons[SILENT] is LeftOutReason.WITHDRAWN
    sync_audience(ctx, gateway, "main")
    member = sandbox.state.member(audience, subscriber_hash(SILENT))
    assert member is None or "cs:newsletter" not in member.tags


def test_a_normal_sync_leaves_members_pending_for_repermission(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    """Members asked again stay pending through plan and sync, whatever their entitlement meanwhile:
    a legacy consent the policy now refuses would otherwise take their tags off or archive them."""
    ctx, gateway = synced
    _legacy(ctx, LEGACY)
    _unconfirmed(ctx, UNCONFIRMED)
    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)
    spec = campaign_spec(ctx, "main", "newsletter", notice_version="v9", campaign_id="hold")
    send_campaign(ctx, gateway, spec, ORIGIN)
    refusing = replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"policy": ctx.settings.policy.model_copy(update={"legacy_consents": "refuse"})}
        ),
    )
    clock.advance(minutes=1)
    planned = plan_audience(refusing, "main", full=True)
    touched = {getattr(op, "subscriber_hash", None) for op in planned.plan.operations}
    assert subscriber_hash(LEGACY) not in touched
    assert subscriber_hash(UNCONFIRMED) not in touched
    sync_audience(refusing, gateway, "main", full=True)
    for email in (LEGACY, UNCONFIRMED):
        assert _status(sandbox, audience, email) is MemberStatus.PENDING
