"""Planning a transactional notice (DESIGN P4): who receives it, by which route, and who is left out, why.

``plan_notice(spec, candidates, routes, settings, now)`` is pure. A contact receives the notice only if
the policy allows transactional notices **for the relationships the notice targets** (an order for the
item, a reference named), read at ``now`` with ``transactional_days_after_service``. Withdrawals of
consent, objections and unsubscribes from marketing never stop a notice; erasure, a hard bounce or a
complaint, and a relationship that is over do. The route is the audience's configured one; a route that
cannot reach the person (a journey for a member it cannot reach, no route at all) leaves them out, saying
what is missing.

A notice goes by e-mail, by SMS or both (``spec.channels``); each (contact, channel) is one recipient.
An SMS needs a mobile number on record and the Transactional route with an SMS sender configured
(``transactional.sms_from``); store-side SMS consent is not asked for, as a notice is not marketing (P4).
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from connector.core.identity import is_mobile
from connector.core.model import ContactFacts, Reason, Relationship, SuppressionReason, words_of
from connector.core.notice_spec import NoticeChannel, NoticeSpec, NoticeTarget, merge_text
from connector.core.policy import transactional_end, transactional_window
from connector.core.policy_settings import PolicySettings
from connector.core.remote import MemberStatus, normalise_email
from connector.core.wording import day, describe_relationship


class Route(StrEnum):
    TRANSACTIONAL = "transactional"
    """Mailchimp Transactional (``messages/send``): audience status is not consulted."""
    JOURNEY = "journey"
    """A Customer Journey of the audience whose e-mail is transactional, triggered per contact."""
    CAMPAIGN = "campaign"
    """A campaign to the "Transactional notices" segment: subscribed members only (segments mode)."""
    NONE = "none"


JOURNEY_REACHES = frozenset({MemberStatus.SUBSCRIBED, MemberStatus.UNSUBSCRIBED, MemberStatus.TRANSACTIONAL})
"""Whom a Customer Journey's transactional e-mail, started by the API trigger, reaches.

Mailchimp's API reference documents the trigger for "the posted contact" of the journey's audience with
no status condition; its help ("About Your Contacts", "About Non-Subscribed Contacts", "About
Transactional Email") says unsubscribed and non-subscribed contacts can receive transactional e-mails
(automation-based ones included) and cleaned contacts nothing; archived and pending contacts are not in
the audience's sendable contacts. A third-party MCP server's tool text says the trigger needs a subscribed
member; Mailchimp's own pages do not say so (docs/mailchimp-behaviour.md "Customer Journey trigger").
A refusal at send time is recorded per member, so a wrong assumption shows in the report, not as a loss.
"""

TRANSACTIONAL_MAX_RECIPIENTS_PER_CALL = 1000
"""Recipients per ``messages/send`` call unless the sender says (``max_recipients_per_call``)."""
SMS_RECIPIENTS_PER_CALL = 10
"""Numbers per ``messages/send-sms`` call: one text goes to every number of a call, and Transactional
sends a call of more than 10 recipients asynchronously, answering ``queued`` for each (its swagger, the
``async`` parameter); at most 10 keeps every number's answer (sent, rejected and why) in the reply."""


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """The route configured for the notice's audience, and what is ready to use."""

    audience: str
    route: Route = Route.TRANSACTIONAL
    transactional_ready: bool = False
    """A Transactional API key is configured."""
    journey_ready: bool = False
    """The audience names its journey and step."""
    segments_mode: bool = True
    segment_name: str = "Transactional notices"
    journey_reaches: frozenset[MemberStatus] = JOURNEY_REACHES
    """Member statuses the journey trigger reaches (what Mailchimp documents for the API trigger)."""
    max_recipients_per_call: int = TRANSACTIONAL_MAX_RECIPIENTS_PER_CALL
    sms_ready: bool = False
    """Transactional can send SMS here: its key and an SMS sender number (``transactional.sms_from``)."""
    sms_recipients_per_call: int = SMS_RECIPIENTS_PER_CALL


@dataclass(frozen=True, slots=True)
class MemberState:
    """The person's member in the audience's Mailchimp list, as Mailchimp last confirmed it."""

    status: MemberStatus
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NoticeCandidate:
    facts: ContactFacts
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    member: MemberState | None = None
    reject_reason: str | None = None
    """Why the address is on Transactional's reject list (``hard-bounce``, ``spam``, ``unsub``…), if it is."""
    phone: str | None = None
    """The contact's number, E.164."""
    sms_reject_reason: str | None = None
    """Why the number is on Transactional's SMS reject list, if it is."""


class LeftOutReason(StrEnum):
    ERASED = "erased"
    NO_RELATIONSHIP = "no_relationship"
    RELATIONSHIP_OVER = "relationship_over"
    NO_ADDRESS = "no_address"
    UNDELIVERABLE = "undeliverable"
    COMPLAINED = "complained"
    REJECT_LIST = "reject_list"
    NO_ROUTE = "no_route"
    NEEDS_TRANSACTIONAL = "needs_transactional"
    UNKNOWN = "unknown"
    """A reference or address of the target that no contact holds."""
    NO_MOBILE = "no_mobile"
    NO_SMS_ROUTE = "no_sms_route"


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_id: str
    email: str
    name: str | None
    route: Route
    because: str | Reason
    """Why the person gets the notice and by which route, as given: words, or a :class:`Reason` put
    into words when read (a plan of 100,000 recipients is mostly sent, rarely read whole); ``why``
    gives the words."""
    merge_vars: Mapping[str, str] = field(default_factory=dict)
    channel: NoticeChannel = NoticeChannel.EMAIL
    phone: str | None = None
    text: str | None = None
    """An SMS's text, merged for this recipient (SMS has no merge language of its own)."""

    @property
    def why(self) -> str:
        """Why, in words: the relationship P4 allows the notice for, then the route (``choose_route``)."""
        return words_of(self.because)


@dataclass(frozen=True, slots=True)
class LeftOut:
    contact_id: str | None
    reason: LeftOutReason
    why: str
    email: str | None = None
    """The contact's address, for the operator's view of the plan (never stored with it)."""
    channel: NoticeChannel | None = None
    """The channel that cannot reach the person (``None``: the person gets the notice by no channel)."""


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """How a notice reaches the person today, or why it cannot (``route`` ``None``)."""

    route: Route | None
    why: str
    reason: LeftOutReason | None = None


@dataclass(frozen=True, slots=True)
class NoticePlan:
    notice_id: str
    kind: str
    planned_at: datetime
    recipients: tuple[Recipient, ...]
    left_out: tuple[LeftOut, ...]
    calls: Mapping[str, int]
    """API calls per route the send costs."""

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {"recipients": len(self.recipients), "left_out": len(self.left_out)}
        for recipient in self.recipients:
            found[f"route:{recipient.route.value}"] = found.get(f"route:{recipient.route.value}", 0) + 1
            if recipient.channel is NoticeChannel.SMS:
                found["channel:sms"] = found.get("channel:sms", 0) + 1
        for left in self.left_out:
            found[f"left_out:{left.reason.value}"] = found.get(f"left_out:{left.reason.value}", 0) + 1
        return found


def plan_notice(
    spec: NoticeSpec,
    candidates: Iterable[NoticeCandidate],
    routes: RouteSettings,
    settings: PolicySettings,
    now: datetime,
    *,
    erased_emails: frozenset[str] = frozenset(),
) -> NoticePlan:
    """Every recipient with its route and why, every contact left out with why, and the calls it costs.

    ``erased_emails``: addresses of the target that belonged to a person since erased (no contact holds
    them any more); other addresses and references of the target no candidate holds are reported unknown.
    """
    recipients: list[Recipient] = []
    left_out: list[LeftOut] = []
    seen_references: set[str] = set()
    seen_emails: set[str] = set()
    targeted_emails = frozenset(normalise_email(e) for e in spec.target.emails)
    planner = _Planner(spec, targeted_emails, routes, settings, now)
    for candidate in candidates:
        email = normalise_email(candidate.email) if candidate.email else None
        if email is not None and targeted_emails:
            seen_emails.add(email)
        if planner.references:
            seen_references.update(r.reference for r in candidate.facts.relationships if r.reference)
        for outcome in planner.plan_one(candidate, email):
            if isinstance(outcome, Recipient):
                recipients.append(outcome)
            else:
                left_out.append(replace(outcome, email=email))
    left_out.extend(_unknown(spec.target, seen_references, seen_emails, erased_emails))
    recipients.sort(key=lambda r: (r.contact_id, r.channel.value))
    return NoticePlan(
        spec.id, spec.kind.value, now, tuple(recipients), tuple(left_out), _calls(recipients, routes)
    )


def targeted_relationships(
    target: NoticeTarget, facts: ContactFacts, email_targeted: bool
) -> tuple[Relationship, ...]:
    """The contact's relationships the notice concerns (all of them for an address named outright)."""
    if email_targeted:
        return facts.relationships
    return _concerning(facts.relationships, target.item, frozenset(target.references))


def _concerning(
    relationships: Iterable[Relationship], item: str | None, references: frozenset[str]
) -> tuple[Relationship, ...]:
    return tuple(
        r for r in relationships if (item is not None and r.item == item) or (r.reference in references)
    )


class _Planner:
    """One notice's planning, contact by contact, with what is the same for all of them worked out once:
    the target's references, and the route's words for each member standing (``choose_route`` reads
    nothing else of a contact with an address and no suppression)."""

    def __init__(
        self,
        spec: NoticeSpec,
        targeted_emails: frozenset[str],
        routes: RouteSettings,
        settings: PolicySettings,
        now: datetime,
    ) -> None:
        self.spec = spec
        self.targeted_emails = targeted_emails
        self.references = frozenset(spec.target.references)
        self.routes = routes
        self.settings = settings
        self.now = now
        self._chosen: dict[tuple[MemberState | None, str | None], RouteChoice] = {}

    def plan_one(self, candidate: NoticeCandidate, email: str | None) -> list[Recipient | LeftOut]:
        spec, settings, now = self.spec, self.settings, self.now
        facts = candidate.facts
        contact_id = facts.contact_id
        if facts.erased:
            return [LeftOut(contact_id, LeftOutReason.ERASED, "the person's data was erased")]
        relevant = self._relevant(facts, email)
        if not relevant:
            return [LeftOut(contact_id, LeftOutReason.NO_RELATIONSHIP, _no_relationship_words(spec.target))]
        # P4 (``decide_transactional`` of the facts scoped to the targeted relationships): allowed while
        # one of them is open; the open one lasting longest names why.
        window = transactional_window(relevant, settings.transactional_days_after_service, now)
        if window is None:
            return [LeftOut(contact_id, *_not_open(relevant, settings, now))]
        best = window[0]
        merge_vars = _merge_vars(candidate, best)
        found: list[Recipient | LeftOut] = []
        for channel in spec.channels:
            if channel is NoticeChannel.SMS:
                allowed_because = Reason(lambda: describe_relationship(best))
                found.append(_by_sms(spec, candidate, self.routes, allowed_because, merge_vars))
                continue
            email_channel = NoticeChannel.EMAIL
            if email is None:
                why = "no e-mail address on record"
                found.append(LeftOut(contact_id, LeftOutReason.NO_ADDRESS, why, channel=email_channel))
                continue
            choice = self._route(candidate)
            if choice.route is None:
                reason = choice.reason or LeftOutReason.NO_ROUTE
                found.append(LeftOut(contact_id, reason, choice.why, channel=email_channel))
                continue
            because = _Because(best, choice.why)
            found.append(Recipient(contact_id, email, _name(candidate), choice.route, because, merge_vars))
        return found

    def _relevant(self, facts: ContactFacts, email: str | None) -> tuple[Relationship, ...]:
        """``targeted_relationships``, the target's references read once."""
        if email is not None and email in self.targeted_emails:
            return facts.relationships
        return _concerning(facts.relationships, self.spec.target.item, self.references)

    def _route(self, candidate: NoticeCandidate) -> RouteChoice:
        if candidate.facts.suppressions:
            return choose_route(candidate, self.routes)
        key = (candidate.member, candidate.reject_reason)
        choice = self._chosen.get(key)
        if choice is None:
            choice = self._chosen[key] = choose_route(candidate, self.routes)
        return choice


class _Because(Reason):
    """A recipient's why, put into words when read: the relationship in the words of P4's reason
    (``decide_transactional``), then the route's words. One object per recipient."""

    __slots__ = ("_relationship", "_route_words")

    def __init__(self, relationship: Relationship, route_words: str) -> None:
        self._relationship = relationship
        self._route_words = route_words

    def __str__(self) -> str:
        return f"{describe_relationship(self._relationship)}; {self._route_words}"


def _by_sms(
    spec: NoticeSpec,
    candidate: NoticeCandidate,
    routes: RouteSettings,
    allowed_because: Reason,
    merge_vars: Mapping[str, str],
) -> Recipient | LeftOut:
    contact_id = candidate.facts.contact_id
    choice = choose_sms_route(candidate, routes)
    if choice.route is None:
        reason = choice.reason or LeftOutReason.NO_SMS_ROUTE
        return LeftOut(contact_id, reason, choice.why, channel=NoticeChannel.SMS)
    assert candidate.phone is not None
    text = merge_text(spec.sms_body() or "", {**spec.merge_vars, **merge_vars})
    return Recipient(
        contact_id,
        candidate.email or "",
        _name(candidate),
        choice.route,
        Reason(lambda: f"{allowed_because}; {choice.why}"),
        merge_vars,
        channel=NoticeChannel.SMS,
        phone=candidate.phone,
        text=text,
    )


def choose_sms_route(candidate: NoticeCandidate, routes: RouteSettings) -> RouteChoice:
    """The route an SMS notice takes to this person today, or why none can: no mobile number on
    record, no SMS route configured, the number on Transactional's SMS reject list. Marketing SMS
    consent is not asked (P4); an e-mail bounce or complaint does not stop an SMS."""
    if candidate.phone is None:
        return RouteChoice(None, "no SMS: no mobile number on record", LeftOutReason.NO_MOBILE)
    if not is_mobile(candidate.phone):
        return RouteChoice(None, "no SMS: the number on record is not a mobile one", LeftOutReason.NO_MOBILE)
    if routes.route is not Route.TRANSACTIONAL or not routes.sms_ready:
        why = f"no SMS route: {_missing_sms_route(routes)}"
        return RouteChoice(None, why, LeftOutReason.NO_SMS_ROUTE)
    if candidate.sms_reject_reason is not None:
        why = f"number on Mailchimp Transactional's SMS reject list ({candidate.sms_reject_reason})"
        return RouteChoice(None, why, LeftOutReason.REJECT_LIST)
    return RouteChoice(Route.TRANSACTIONAL, "by SMS via Mailchimp Transactional (mobile number on record)")


def _missing_sms_route(routes: RouteSettings) -> str:
    if routes.route is not Route.TRANSACTIONAL:
        return f"audience '{routes.audience}' sends notices by {routes.route.value}, which has no SMS"
    if not routes.transactional_ready:
        return "Mailchimp Transactional is not configured (transactional.api_key)"
    return "no SMS sender number configured (transactional.sms_from)"


def choose_route(candidate: NoticeCandidate, routes: RouteSettings) -> RouteChoice:
    """The route a notice takes to this person today, in words, or why none can reach them."""
    blocked = address_block(candidate, routes)
    if blocked is not None:
        return blocked
    member = candidate.member
    standing = _standing(member, routes.audience)
    if routes.route is Route.TRANSACTIONAL and routes.transactional_ready:
        if candidate.reject_reason is not None:
            why = f"on Mailchimp Transactional's reject list ({candidate.reject_reason})"
            return RouteChoice(None, why, LeftOutReason.REJECT_LIST)
        return RouteChoice(Route.TRANSACTIONAL, f"via Mailchimp Transactional; {standing}")
    if routes.route is Route.JOURNEY and routes.journey_ready:
        if member is not None and member.status in routes.journey_reaches:
            return RouteChoice(
                Route.JOURNEY, f"via the customer journey of audience '{routes.audience}' ({standing})"
            )
        why = f"the journey trigger cannot reach this person ({standing}): needs Mailchimp Transactional"
        return RouteChoice(None, why, LeftOutReason.NEEDS_TRANSACTIONAL)
    if routes.segments_mode and member is not None and member.status is MemberStatus.SUBSCRIBED:
        return RouteChoice(Route.CAMPAIGN, f"via campaign to segment '{routes.segment_name}' (subscribed)")
    return RouteChoice(None, f"no route: {standing}; {_missing_route(routes)}", LeftOutReason.NO_ROUTE)


def address_block(candidate: NoticeCandidate, routes: RouteSettings) -> RouteChoice | None:
    """The address cannot receive mail on any route: none, bounced, complained, erased."""
    if candidate.email is None:
        return RouteChoice(None, "no route: no e-mail address on record", LeftOutReason.NO_ADDRESS)
    stops = [s for s in candidate.facts.suppressions if s.reason is not SuppressionReason.UNSUBSCRIBED]
    if stops:
        latest = max(stops, key=lambda s: (s.created_at, s.reason.value))
        words, reason = {
            SuppressionReason.CLEANED: ("address undeliverable (hard bounce)", LeftOutReason.UNDELIVERABLE),
            SuppressionReason.COMPLAINED: ("marked our e-mail as spam", LeftOutReason.COMPLAINED),
            SuppressionReason.ERASED: ("the person asked to be erased", LeftOutReason.ERASED),
        }[latest.reason]
        return RouteChoice(None, f"no route: {words} on {day(latest.created_at)}", reason)
    member = candidate.member
    if member is not None and member.status is MemberStatus.CLEANED:
        when = f" on {day(member.changed_at)}" if member.changed_at else ""
        why = f"no route: address cleaned in audience '{routes.audience}'{when}"
        return RouteChoice(None, why, LeftOutReason.UNDELIVERABLE)
    return None


def _standing(member: MemberState | None, audience: str) -> str:
    if member is None:
        return f"not a member of audience '{audience}'"
    when = f" on {day(member.changed_at)}" if member.changed_at else ""
    match member.status:
        case MemberStatus.SUBSCRIBED:
            return f"subscribed in audience '{audience}'"
        case MemberStatus.UNSUBSCRIBED:
            return f"unsubscribed from marketing in audience '{audience}'{when}"
        case MemberStatus.TRANSACTIONAL:
            return f"non-subscribed (transactional) member of audience '{audience}'"
        case MemberStatus.PENDING:
            return f"awaiting double opt-in in audience '{audience}'"
        case MemberStatus.ARCHIVED:
            return f"archived in audience '{audience}'{when}"
        case MemberStatus.CLEANED:
            return f"address cleaned in audience '{audience}'{when}"
    raise AssertionError(f"unhandled member status {member.status!r}")


def _missing_route(routes: RouteSettings) -> str:
    if routes.route is Route.TRANSACTIONAL:
        return "Mailchimp Transactional is not configured (transactional.api_key)"
    if routes.route is Route.JOURNEY:
        return f"audience '{routes.audience}' names no journey (journey_id, journey_step_id)"
    if routes.route is Route.CAMPAIGN:
        return "a campaign reaches only subscribed members in segments mode"
    return f"audience '{routes.audience}' has notice_route 'none'"


def _no_relationship_words(target: NoticeTarget) -> str:
    if target.item is not None and target.references:
        return f"no relationship for item {target.item!r} or the references named"
    if target.item is not None:
        return f"no relationship for item {target.item!r}"
    if target.references:
        return "no relationship with the references named"
    return "no order, subscription or account"


def _not_open(
    relevant: Iterable[Relationship], settings: PolicySettings, now: datetime
) -> tuple[LeftOutReason, str]:
    started = [r for r in relevant if r.started_at <= now]
    if not started:
        return LeftOutReason.NO_RELATIONSHIP, "the relationship starts later"
    grace = settings.transactional_days_after_service
    latest = max(started, key=lambda r: (transactional_end(r, grace) or now, r.id))
    ended = transactional_end(latest, grace)
    when = f" on {day(ended)}" if ended is not None else ""
    return (
        LeftOutReason.RELATIONSHIP_OVER,
        f"relationship over{when} ({describe_relationship(latest)}, {grace} days after service)",
    )


def _name(candidate: NoticeCandidate) -> str | None:
    first, last = candidate.first_name, candidate.last_name
    if first and last:
        return f"{first} {last}"
    return first or last or None


def _merge_vars(candidate: NoticeCandidate, relationship: Relationship) -> dict[str, str]:
    found = {
        "FNAME": candidate.first_name or "",
        "LNAME": candidate.last_name or "",
        "ITEM": relationship.item or "",
        "REFERENCE": relationship.reference or "",
    }
    if relationship.service_date is not None:
        found["SERVICE_DATE"] = day(relationship.service_date)
    return found


def _unknown(
    target: NoticeTarget, references: set[str], emails: set[str], erased: frozenset[str]
) -> list[LeftOut]:
    found = [
        LeftOut(None, LeftOutReason.UNKNOWN, f"no contact holds reference {reference!r}")
        for reference in sorted(set(target.references) - references)
    ]
    for email in sorted({normalise_email(e) for e in target.emails} - emails):
        if email in erased:
            found.append(
                LeftOut(None, LeftOutReason.ERASED, "an address of the file: the person's data was erased")
            )
        else:
            found.append(LeftOut(None, LeftOutReason.UNKNOWN, "an address of the file: no contact has it"))
    return found


def sms_group(recipient: Recipient) -> str:
    """The key of the recipients one ``send-sms`` call may carry together: the same text."""
    return hashlib.sha256((recipient.text or "").encode("utf-8")).hexdigest()[:16]


def _calls(recipients: Iterable[Recipient], routes: RouteSettings) -> dict[str, int]:
    per_route: dict[Route, int] = {}
    per_text: dict[str, int] = {}
    for recipient in recipients:
        if recipient.channel is NoticeChannel.SMS:
            per_text[sms_group(recipient)] = per_text.get(sms_group(recipient), 0) + 1
            continue
        per_route[recipient.route] = per_route.get(recipient.route, 0) + 1
    calls: dict[str, int] = {}
    if per_text:
        size = max(1, routes.sms_recipients_per_call)
        calls["sms"] = sum(-(-count // size) for count in per_text.values())
    for route, count in per_route.items():
        if route is Route.TRANSACTIONAL:
            calls[route.value] = -(-count // max(1, routes.max_recipients_per_call))
        elif route is Route.JOURNEY:
            calls[route.value] = count
        elif route is Route.CAMPAIGN:
            calls[route.value] = 1
    return calls
