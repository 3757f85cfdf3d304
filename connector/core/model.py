"""Plain values the policy reasons about. No I/O, no clock: every time is an argument.

All datetimes are timezone-aware UTC. Records carry the id of the stored row they came from so that a
decision can name the records that decided it (P8).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

_T = TypeVar("_T")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class ConsentAction(StrEnum):
    GIVEN = "given"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


class ConsentMethod(StrEnum):
    FORM = "form"
    CHECKOUT = "checkout"
    IN_STORE = "in_store"
    API = "api"
    IMPORT = "import"
    MAILCHIMP = "mailchimp"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    CUSTOMER_SERVICE = "customer_service"
    IN_PERSON = "in_person"
    OTHER = "other"
    """A means of expression outside this vocabulary (an opt-out may be made by any means)."""


class Actor(StrEnum):
    PERSON = "person"
    STAFF = "staff"
    SYSTEM = "system"


class RelationshipKind(StrEnum):
    PURCHASE = "purchase"
    SUBSCRIPTION = "subscription"
    ACCOUNT = "account"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"
    COMPLAINED = "complained"
    ERASED = "erased"


class Basis(StrEnum):
    CONSENT = "consent"
    EXISTING_CUSTOMER = "existing_customer"
    NONE = "none"


class Rule(StrEnum):
    """The policy rule that decided an entitlement (docs/policy.md)."""

    P0_HARD_STOP = "P0"
    P1_NO_BASIS = "P1"
    P2_CONSENT = "P2"
    P3_SOFT_OPT_IN = "P3"
    P4_TRANSACTIONAL = "P4"


class RecordKind(StrEnum):
    CONTACT = "contact"
    CONSENT = "consent"
    RELATIONSHIP = "relationship"
    OBJECTION = "objection"
    SUPPRESSION = "suppression"


OPT_OUT_RECORDS = frozenset({RecordKind.CONSENT, RecordKind.OBJECTION, RecordKind.SUPPRESSION})
"""The records a hard stop (P0) names when a person's own act decided it: a withdrawal (with the grant it
withdraws), an objection, a suppression."""


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Points at the stored record that decided something."""

    kind: RecordKind
    id: str


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One append-only consent event with its evidence (docs/policy.md)."""

    id: str
    purpose: str
    channel: Channel
    action: ConsentAction
    occurred_at: datetime
    method: ConsentMethod
    source: str
    notice_version: str | None = None
    active_act: bool = False
    ip: str | None = None
    user_agent: str | None = None
    double_opt_in_requested_at: datetime | None = None
    recorded_by: Actor = Actor.SYSTEM
    source_ref: str | None = None

    @property
    def ref(self) -> RecordRef:
        return RecordRef(RecordKind.CONSENT, self.id)

    @property
    def has_evidence(self) -> bool:
        """A grant is evidence of consent only with a notice version and a named source."""
        return bool(self.notice_version) and bool(self.source)


@dataclass(frozen=True, slots=True)
class Relationship:
    """An existing-customer relationship: the ground for soft opt-in (P3) and transactional mail (P4).

    ``service_date`` is the delivery date of a purchase, or the last day of the service bought (the
    return date of a trip). ``ended_at`` closes a subscription or an account.
    """

    id: str
    kind: RelationshipKind
    started_at: datetime
    reference: str | None = None
    categories: frozenset[str] = frozenset()
    service_date: datetime | None = None
    ended_at: datetime | None = None
    opt_out_offered: bool = False
    order_value: Decimal | None = None
    source: str = "unknown"
    item: str | None = None
    """What the relationship concerns (a concert, a departure, a product): what a notice targets."""

    @property
    def ref(self) -> RecordRef:
        return RecordRef(RecordKind.RELATIONSHIP, self.id)


@dataclass(frozen=True, slots=True)
class Objection:
    """ "No more marketing" for a scope. ``None`` in a scope field means every purpose / channel."""

    id: str
    occurred_at: datetime
    source: str
    purpose: str | None = None
    channel: Channel | None = None
    reason: str | None = None

    @property
    def ref(self) -> RecordRef:
        return RecordRef(RecordKind.OBJECTION, self.id)

    def covers(self, purpose: str, channel: Channel) -> bool:
        return (self.purpose is None or self.purpose == purpose) and (
            self.channel is None or self.channel == channel
        )


@dataclass(frozen=True, slots=True)
class Suppression:
    """A keyed hash of an address that must not be marketed to; survives erasure."""

    address_hash: str
    reason: SuppressionReason
    created_at: datetime
    source: str = "unknown"

    @property
    def ref(self) -> RecordRef:
        return RecordRef(RecordKind.SUPPRESSION, self.address_hash[:12])


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """Everything the policy needs to decide for one contact."""

    contact_id: str
    has_email: bool = True
    has_phone: bool = False
    erased: bool = False
    processing_restricted: bool = False
    consent_events: tuple[ConsentEvent, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    objections: tuple[Objection, ...] = ()
    suppressions: tuple[Suppression, ...] = ()

    def last_moment(self) -> datetime:
        """The latest date any record carries (``datetime.min`` in UTC when there are none)."""
        return max(_moments(self), default=_EARLIEST)

    def as_of(self, moment: datetime) -> "ContactFacts":
        """The facts as they stood at ``moment``: records that happened later are left out."""
        if _all_known_at(self, moment):
            return self
        return replace(
            self,
            consent_events=_before(self.consent_events, moment, lambda e: e.occurred_at),
            relationships=tuple(
                _relationship_as_of(r, moment) for r in self.relationships if r.started_at <= moment
            ),
            objections=_before(self.objections, moment, lambda o: o.occurred_at),
            suppressions=_before(self.suppressions, moment, lambda s: s.created_at),
        )


def _all_known_at(facts: ContactFacts, moment: datetime) -> bool:
    """``facts.last_moment() <= moment``, without going through every record once one is later."""
    for event in facts.consent_events:
        if event.occurred_at > moment:
            return False
    for relationship in facts.relationships:
        ended = relationship.ended_at
        if relationship.started_at > moment or (ended is not None and ended > moment):
            return False
    for objection in facts.objections:
        if objection.occurred_at > moment:
            return False
    return all(s.created_at <= moment for s in facts.suppressions)


def _moments(facts: ContactFacts) -> Iterator[datetime]:
    yield from (e.occurred_at for e in facts.consent_events)
    for relationship in facts.relationships:
        yield relationship.started_at
        if relationship.ended_at is not None:
            yield relationship.ended_at
    yield from (o.occurred_at for o in facts.objections)
    yield from (s.created_at for s in facts.suppressions)


def _before(records: Iterable[_T], moment: datetime, when: Callable[[_T], datetime]) -> tuple[_T, ...]:
    return tuple(r for r in records if when(r) <= moment)


def _relationship_as_of(relationship: Relationship, moment: datetime) -> Relationship:
    if relationship.ended_at is not None and relationship.ended_at > moment:
        return replace(relationship, ended_at=None)
    return relationship


class Reason:
    """Why a decision came out as it did, in plain words (P8), put into words only when read.

    Deciding for a million contacts needs the rule, the records and the dates, never the sentence; the
    sentence is built from the same immutable records when ``explain``, a report or a plan shows it, so
    it reads exactly as if it had been built at once. Equal to any ``Reason`` or ``str`` with the same
    words.
    """

    __slots__ = ("_words",)

    def __init__(self, words: Callable[[], str]) -> None:
        self._words = words

    def __str__(self) -> str:
        return self._words()

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Reason | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


def words_of(why: "str | Reason") -> str:
    """The words of a reason, whether already a sentence or still to be put into words."""
    return why if isinstance(why, str) else str(why)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one purpose × channel, with why and for how long.

    ``why`` is the reason as given (words, or a :class:`Reason` worded when read); ``reason`` its words.
    """

    purpose: str
    channel: Channel
    allowed: bool
    basis: Basis
    rule: Rule
    why: str | Reason
    valid_until: datetime | None = None
    records: tuple[RecordRef, ...] = ()

    @property
    def reason(self) -> str:
        return words_of(self.why)

    @property
    def opted_out(self) -> bool:
        """Denied by the person's own recorded act (P0 on a withdrawal, an objection or a suppression:
        unsubscribe, bounce, complaint, erasure), not by a basis lapsing or missing data."""
        return self.rule is Rule.P0_HARD_STOP and any(r.kind in OPT_OUT_RECORDS for r in self.records)


@dataclass(frozen=True, slots=True)
class TransactionalDecision:
    allowed: bool
    why: str | Reason
    valid_until: datetime | None = None
    records: tuple[RecordRef, ...] = ()
    rule: Rule = Rule.P4_TRANSACTIONAL

    @property
    def reason(self) -> str:
        return words_of(self.why)


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What may be sent to one contact at ``decided_at`` (docs/policy.md)."""

    contact_id: str
    decided_at: datetime
    marketing: tuple[Decision, ...]
    transactional: TransactionalDecision
    next_review_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())

    def decision(self, purpose: str, channel: Channel) -> Decision | None:
        for item in self.marketing:
            if item.purpose == purpose and item.channel == channel:
                return item
        return None

    def allows(self, purpose: str, channel: Channel) -> bool:
        found = self.decision(purpose, channel)
        return found is not None and found.allowed

    @property
    def allowed_purposes(self) -> frozenset[tuple[str, Channel]]:
        return frozenset((d.purpose, d.channel) for d in self.marketing if d.allowed)
