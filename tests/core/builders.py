"""Small factories for the policy's values, with defaults that make a valid, boring record.

Every builder takes the moment as ``at`` (a datetime); ``day(n)`` gives "n days after NOW". Ids are
unique per process so that records never collide by accident.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from connector.core.model import (
    Actor,
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
    Decision,
    Entitlement,
    Objection,
    Relationship,
    RelationshipKind,
    Suppression,
    SuppressionReason,
)
from connector.core.policy import decide
from connector.core.policy_settings import PolicySettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEFAULTS = PolicySettings()
EMAIL = Channel.EMAIL
SMS = Channel.SMS

_ids = count(1)


def day(offset: float) -> datetime:
    """``offset`` days after NOW (negative: before)."""
    return NOW + timedelta(days=offset)


def _next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def grant(
    purpose: str = "newsletter",
    channel: Channel = EMAIL,
    *,
    at: datetime,
    method: ConsentMethod = ConsentMethod.CHECKOUT,
    active_act: bool = True,
    notice_version: str | None = "notice-3",
    source: str = "shop",
    source_ref: str | None = None,
) -> ConsentEvent:
    """A consent grant; by default a ticked box at checkout with evidence (needs no double opt-in)."""
    return ConsentEvent(
        id=_next_id("consent"),
        purpose=purpose,
        channel=channel,
        action=ConsentAction.GIVEN,
        occurred_at=at,
        method=method,
        source=source,
        notice_version=notice_version,
        active_act=active_act,
        recorded_by=Actor.PERSON,
        source_ref=source_ref,
    )


def form_grant(purpose: str = "newsletter", channel: Channel = EMAIL, *, at: datetime) -> ConsentEvent:
    """A web sign-up: needs double opt-in under the default settings."""
    return grant(purpose, channel, at=at, method=ConsentMethod.FORM, source="consent-form")


def confirmation(of: ConsentEvent, *, at: datetime) -> ConsentEvent:
    """The double opt-in confirmation of ``of``."""
    return ConsentEvent(
        id=_next_id("consent"),
        purpose=of.purpose,
        channel=of.channel,
        action=ConsentAction.CONFIRMED,
        occurred_at=at,
        method=of.method,
        source=of.source,
        notice_version=of.notice_version,
        active_act=True,
        recorded_by=Actor.PERSON,
    )


def confirmed_grant(
    purpose: str = "newsletter", channel: Channel = EMAIL, *, at: datetime
) -> tuple[ConsentEvent, ConsentEvent]:
    """A web sign-up and its confirmation an hour later."""
    given = form_grant(purpose, channel, at=at)
    return given, confirmation(given, at=at + timedelta(hours=1))


def withdrawal(
    purpose: str = "newsletter",
    channel: Channel = EMAIL,
    *,
    at: datetime,
    method: ConsentMethod = ConsentMethod.MAILCHIMP,
    source: str = "mailchimp-webhook",
    source_ref: str | None = None,
) -> ConsentEvent:
    """A withdrawal; by default a click on a Mailchimp unsubscribe link."""
    return ConsentEvent(
        id=_next_id("consent"),
        purpose=purpose,
        channel=channel,
        action=ConsentAction.WITHDRAWN,
        occurred_at=at,
        method=method,
        source=source,
        recorded_by=Actor.PERSON,
        source_ref=source_ref,
    )


def purchase(
    *,
    at: datetime,
    service_date: datetime | None = None,
    reference: str | None = "8812",
    categories: Iterable[str] = ("trips",),
    opt_out_offered: bool = True,
    order_value: Decimal | None = None,
) -> Relationship:
    """An order bought at ``at``, delivered/served on ``service_date``, with a free opt-out offered."""
    return Relationship(
        id=_next_id("relationship"),
        kind=RelationshipKind.PURCHASE,
        started_at=at,
        reference=reference,
        categories=frozenset(categories),
        service_date=service_date,
        opt_out_offered=opt_out_offered,
        order_value=order_value,
        source="shop",
    )


def subscription(
    *,
    at: datetime,
    ended_at: datetime | None = None,
    reference: str | None = "S-17",
    opt_out_offered: bool = True,
) -> Relationship:
    return Relationship(
        id=_next_id("relationship"),
        kind=RelationshipKind.SUBSCRIPTION,
        started_at=at,
        reference=reference,
        ended_at=ended_at,
        opt_out_offered=opt_out_offered,
        source="billing",
    )


def account(*, at: datetime, ended_at: datetime | None = None, opt_out_offered: bool = True) -> Relationship:
    return Relationship(
        id=_next_id("relationship"),
        kind=RelationshipKind.ACCOUNT,
        started_at=at,
        ended_at=ended_at,
        opt_out_offered=opt_out_offered,
        source="shop",
    )


def objection(
    *,
    at: datetime,
    purpose: str | None = None,
    channel: Channel | None = None,
    source: str = "admin-api",
) -> Objection:
    """An objection; by default to all marketing on every channel."""
    return Objection(
        id=_next_id("objection"), occurred_at=at, source=source, purpose=purpose, channel=channel
    )


def suppression(reason: SuppressionReason, *, at: datetime, address_hash: str = "ab" * 32) -> Suppression:
    return Suppression(address_hash=address_hash, reason=reason, created_at=at, source="mailchimp-webhook")


def facts(
    *records: ConsentEvent | Relationship | Objection | Suppression,
    has_email: bool = True,
    has_phone: bool = True,
    erased: bool = False,
    processing_restricted: bool = False,
) -> ContactFacts:
    """A contact with an e-mail address and a mobile number, holding ``records`` sorted by type."""
    return ContactFacts(
        contact_id="contact-1",
        has_email=has_email,
        has_phone=has_phone,
        erased=erased,
        processing_restricted=processing_restricted,
        consent_events=tuple(r for r in records if isinstance(r, ConsentEvent)),
        relationships=tuple(r for r in records if isinstance(r, Relationship)),
        objections=tuple(r for r in records if isinstance(r, Objection)),
        suppressions=tuple(r for r in records if isinstance(r, Suppression)),
    )


def entitlement(
    contact: ContactFacts, *, now: datetime = NOW, settings: PolicySettings = DEFAULTS
) -> Entitlement:
    return decide(contact, settings, now)


def decision(
    contact: ContactFacts,
    purpose: str = "newsletter",
    channel: Channel = EMAIL,
    *,
    now: datetime = NOW,
    settings: PolicySettings = DEFAULTS,
) -> Decision:
    """The decision for one purpose × channel; fails the test if the policy did not decide it."""
    found = entitlement(contact, now=now, settings=settings).decision(purpose, channel)
    assert found is not None, f"no decision for {purpose} × {channel}"
    return found
