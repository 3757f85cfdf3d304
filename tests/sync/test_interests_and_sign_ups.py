"""Mailchimp groups are purposes, over real HTTP against the sandbox (issue 16 items 2 and 4).

- Sync writes the mapped interests back: ticked iff the purpose is allowed by consent, and a second
  plan is empty (the mirror keeps what Mailchimp confirmed).
- The sandbox's own ``subscribe`` webhook after a ``pending`` state confirms the sign-up; one without a
  pending state is an unconfirmed grant; neither grants ``partner_offers``.
"""

from dataclasses import replace
from datetime import timedelta

from connector.api.inbox import Delivery, accept_batch
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.remote import MemberStatus, subscriber_hash
from connector.core.specificity import InterestMapping
from connector.core.transitions import Source
from connector.core.webhook_events import parse_event
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import MemberWrite
from connector.sandbox.server import SandboxHandle
from connector.sandbox.webhook_events import EventContext, encode, events_for
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext
from connector.services.explain import explain_contact
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, list_id, subscribe, with_policy

INTERESTS = (
    InterestMapping(purpose="newsletter", interest_id="i-news", category="Interests", interest="Newsletter"),
    InterestMapping(
        purpose="partner_offers", interest_id="i-part", category="Interests", interest="Partner offers"
    ),
)


def _mapped(ctx: AppContext) -> AppContext:
    audience = ctx.settings.audiences[0].model_copy(update={"interests": INTERESTS})
    return replace(ctx, settings=ctx.settings.model_copy(update={"audiences": (audience,)}))


def _partner(ctx: AppContext, email: str, action: ConsentAction) -> None:
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(hours=1),
        method=ConsentMethod.CHECKOUT,
        notice_version="partners-v1",
        recorded_by=Actor.PERSON,
    )
    record_consent(ctx, email, ["partner_offers"], Channel.EMAIL, action, evidence, ORIGIN)


def _interests(sandbox: SandboxHandle, audience: str, email: str) -> dict[str, bool]:
    member = sandbox.state.member(audience, subscriber_hash(email))
    assert member is not None
    return dict(member.interests)


def test_sync_writes_the_mapped_interests_back(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    ctx = _mapped(ctx)
    subscribe(ctx, "both@example.no")
    _partner(ctx, "both@example.no", ConsentAction.GIVEN)
    subscribe(ctx, "news@example.no")

    sync_audience(ctx, gateway, "main")
    audience = list_id(ctx)

    assert _interests(sandbox, audience, "both@example.no") == {"i-news": True, "i-part": True}
    assert _interests(sandbox, audience, "news@example.no") == {"i-news": True, "i-part": False}
    assert len(plan_audience(ctx, "main", full=True).plan) == 0

    clock.advance(hours=1)
    _partner(ctx, "both@example.no", ConsentAction.WITHDRAWN)
    sync_audience(ctx, gateway, "main")

    assert _interests(sandbox, audience, "both@example.no") == {"i-news": True, "i-part": False}
    assert len(plan_audience(ctx, "main", full=True).plan) == 0
    reconcile_audience(ctx, gateway, "main", full=True)  # read back: the mirror agrees with Mailchimp
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def _sandbox_hook(
    sandbox: SandboxHandle, audience: str, email: str, before_status: MemberStatus, clock: FakeClock
) -> bytes:
    """The body of the webhook the sandbox fires when the member goes from ``before_status`` to subscribed."""
    after = sandbox.state.member(audience, subscriber_hash(email))
    assert after is not None
    assert after.status is MemberStatus.SUBSCRIBED
    before = replace(after, status=before_status)
    context = EventContext(audience, "a1b2c3", clock.now - timedelta(seconds=5))
    (event,) = events_for(before, after, Source.USER, context)
    return encode(event)


def _deliver(ctx: AppContext, body: bytes) -> None:
    answers = accept_batch(ctx, [Delivery(parse_event(body), body)])
    assert not any(isinstance(a, Exception) for a in answers), answers


def _decision(ctx: AppContext, email: str, purpose: str) -> tuple[bool, str]:
    found = explain_contact(ctx, email).entitlement.decision(purpose, Channel.EMAIL)
    assert found is not None
    return found.allowed, found.reason


def test_a_sandbox_subscribe_after_pending_confirms_and_grants_the_sign_up_purposes_only(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, clock: FakeClock
) -> None:
    ctx, gateway = synced
    ctx = replace(
        _mapped(ctx), settings=with_policy(_mapped(ctx).settings, trust_mailchimp_signup_forms=True)
    )
    subscribe(ctx, "seed@example.no")
    sync_audience(ctx, gateway, "main")  # creates the list
    audience = list_id(ctx)
    email = "form@example.no"
    # the person signs up through Mailchimp's hosted form: pending until they click the confirmation link
    gateway.upsert_member(audience, MemberWrite(email, status_if_new=MemberStatus.PENDING))
    clock.advance(minutes=5)
    reconcile_audience(ctx, gateway, "main")  # the mirror learns the member is pending
    gateway.patch_member(audience, subscriber_hash(email), status=MemberStatus.SUBSCRIBED)
    _deliver(ctx, _sandbox_hook(sandbox, audience, email, MemberStatus.PENDING, clock))

    allowed, reason = _decision(ctx, email, "newsletter")
    assert allowed, reason
    assert "notice text not recorded" in reason
    assert "confirmed" in reason
    partner_allowed, partner_reason = _decision(ctx, email, "partner_offers")
    assert not partner_allowed
    assert "explicit_only" in partner_reason

    # subscribed at once, no pending state known: an unconfirmed grant (no marketing until confirmed)
    other = "direct@example.no"
    gateway.upsert_member(audience, MemberWrite(other, status_if_new=MemberStatus.SUBSCRIBED))
    _deliver(ctx, _sandbox_hook(sandbox, audience, other, MemberStatus.PENDING, clock))
    allowed, reason = _decision(ctx, other, "newsletter")
    assert not allowed
    assert "awaits double opt-in confirmation" in reason
