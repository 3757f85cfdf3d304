"""The policy (docs/policy.md): who may receive what, on which basis, until when, and why.

``decide(facts, settings, now)`` is pure. It looks only at the facts as they stood at ``now``, so
explaining "as of date D" is the same call with ``now = D``.

A sync decides for every contact of an audience and reads no reason, so deciding is kept cheap: a reason
is put into words only when read (:class:`~connector.core.model.Reason`), and a decision that depends on
nothing but its purpose and channel (nothing on record) is one shared value.
"""

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.core.consent import ConsentKey, ConsentState, fold
from connector.core.model import (
    Basis,
    Channel,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
    Decision,
    Entitlement,
    Objection,
    Reason,
    RecordKind,
    RecordRef,
    Relationship,
    RelationshipKind,
    Rule,
    Suppression,
    SuppressionReason,
    TransactionalDecision,
)
from connector.core.policy_settings import PolicySettings, PurposeSettings
from connector.core.specificity import NOTICE_UNKNOWN
from connector.core.wording import channel_label, day, describe_relationship, describe_source, source_label


@dataclass(frozen=True, slots=True)
class _Consent:
    """A valid consent: the grant, its confirmation if any, and when it lapses."""

    grant: ConsentEvent
    confirmation: ConsentEvent | None
    expires_at: datetime | None

    @property
    def records(self) -> tuple[RecordRef, ...]:
        refs = (self.grant.ref,)
        return refs + ((self.confirmation.ref,) if self.confirmation else ())


@dataclass(frozen=True, slots=True)
class _Window:
    relationship: Relationship
    ends_at: datetime | None


def decide(facts: ContactFacts, settings: PolicySettings, now: datetime) -> Entitlement:
    """The entitlement of one contact at ``now``."""
    known = facts.as_of(now)
    states = fold(known.consent_events)
    marketing = tuple(
        [
            decide_marketing(known, states, purpose, channel, settings, now)
            for purpose in settings.purposes
            for channel in purpose.channels
        ]
    )
    transactional = decide_transactional(known, settings, now)
    review = next_review(marketing, transactional, now)
    return Entitlement(facts.contact_id, now, marketing, transactional, review)


def decide_marketing(
    facts: ContactFacts,
    states: Mapping[ConsentKey, ConsentState],
    purpose: PurposeSettings,
    channel: Channel,
    settings: PolicySettings,
    now: datetime,
) -> Decision:
    """P0 hard stops first, then a basis: valid consent (P2) or soft opt-in (P3), else P1."""
    state = states.get((purpose.name, channel))
    if state is None:
        return _decide_without_consent_events(facts, purpose, channel, settings, now)
    consent = valid_consent(state, settings, now)
    stop = hard_stop(facts, state, purpose.name, channel, consent)
    if stop is not None:
        return stop
    if consent is not None:
        return _allowed_by_consent(purpose.name, channel, consent, settings)
    window = soft_opt_in(facts, purpose, settings, now) if facts.relationships else None
    if window is not None:
        return _allowed_as_customer(purpose.name, channel, window, settings)
    return _no_basis(facts, state, purpose, settings, now)


def _decide_without_consent_events(
    facts: ContactFacts, purpose: PurposeSettings, channel: Channel, settings: PolicySettings, now: datetime
) -> Decision:
    """``decide_marketing`` where no consent event names the purpose × channel (most of them): no consent,
    no withdrawal, and without relationships no basis at all."""
    state = _no_consent_events(purpose.name, channel)
    stop = hard_stop(facts, state, purpose.name, channel, None)
    if stop is not None:
        return stop
    if not facts.relationships:
        return _denied_without_records(purpose.name, channel, _no_consent_words(purpose))
    window = soft_opt_in(facts, purpose, settings, now)
    if window is not None:
        return _allowed_as_customer(purpose.name, channel, window, settings)
    return _no_basis(facts, state, purpose, settings, now)


@functools.lru_cache(maxsize=256)
def _no_consent_events(purpose: str, channel: Channel) -> ConsentState:
    """The consent state of a purpose × channel without any event (one shared value per key)."""
    return ConsentState(purpose=purpose, channel=channel)


def hard_stop(
    facts: ContactFacts,
    state: ConsentState,
    purpose: str,
    channel: Channel,
    consent: _Consent | None,
) -> Decision | None:
    """P0: erasure, restriction, a missing address, suppression, objection, withdrawal.

    Suppression, objection and withdrawal give way only to a valid consent strictly newer than them.
    """

    reachable = facts.has_email if channel is Channel.EMAIL else facts.has_phone
    if facts.erased or facts.processing_restricted or not reachable:
        return _deny(
            purpose,
            channel,
            _unreachable_reason(facts, channel),
            RecordRef(RecordKind.CONTACT, facts.contact_id),
        )
    newer_than = consent.grant.occurred_at if consent is not None else None
    if channel is Channel.EMAIL and facts.suppressions:
        suppression = _latest_suppression(facts.suppressions)
        if suppression is not None and not _is_newer(newer_than, suppression.created_at):
            reason = Reason(lambda: _suppression_reason(suppression))
            return _deny(purpose, channel, reason, suppression.ref)
    objection = _latest_objection(facts.objections, purpose, channel) if facts.objections else None
    if objection is not None and not _is_newer(newer_than, objection.occurred_at):
        return _deny(purpose, channel, Reason(lambda: _objection_reason(objection)), objection.ref)
    if state.withdrawal is not None and consent is None:
        reason = Reason(lambda: _withdrawal_reason(state))
        return _deny(purpose, channel, reason, *_withdrawal_records(state))
    return None


def _deny(purpose: str, channel: Channel, reason: str | Reason, *records: RecordRef) -> Decision:
    return Decision(purpose, channel, False, Basis.NONE, Rule.P0_HARD_STOP, reason, None, records)


def _unreachable_reason(facts: ContactFacts, channel: Channel) -> str:
    if facts.erased:
        return "the person's data was erased"
    if facts.processing_restricted:
        return "processing is restricted for this person"
    return "no e-mail address on record" if channel is Channel.EMAIL else "no mobile number on record"


def valid_consent(state: ConsentState, settings: PolicySettings, now: datetime) -> _Consent | None:
    """P2: an active, specific, evidenced, confirmed (where required), unexpired, unwithdrawn grant."""
    grant = state.grant
    if grant is None:
        return None
    if needs_confirmation(grant, settings) and state.confirmation is None:
        return _earlier_confirmed(state, settings, now)
    return _unexpired(grant, state.confirmation, settings, now)


def _earlier_confirmed(state: ConsentState, settings: PolicySettings, now: datetime) -> _Consent | None:
    """A repeat sign-up awaiting confirmation leaves the earlier confirmed consent standing."""
    if state.confirmed is None:
        return None
    grant, confirmation = state.confirmed
    return _unexpired(grant, confirmation, settings, now)


def _unexpired(
    grant: ConsentEvent, confirmation: ConsentEvent | None, settings: PolicySettings, now: datetime
) -> _Consent | None:
    expires_at = consent_expiry(grant, settings)
    if is_legacy(grant):
        if settings.legacy_consents == "refuse":
            return None
        until = settings.legacy_until
        if until is not None:
            expires_at = until if expires_at is None else min(expires_at, until)
    if expires_at is not None and now >= expires_at:
        return None
    return _Consent(grant=grant, confirmation=confirmation, expires_at=expires_at)


def is_legacy(grant: ConsentEvent) -> bool:
    """A grant whose notice text nobody recorded (a Mailchimp form, a legacy list)."""
    return grant.notice_version == NOTICE_UNKNOWN


def needs_confirmation(grant: ConsentEvent, settings: PolicySettings) -> bool:
    return method_needs_confirmation(grant.method, settings)


def method_needs_confirmation(method: ConsentMethod, settings: PolicySettings) -> bool:
    """Double opt-in where the policy asks for it; a Mailchimp sign-up form counts as a form."""
    if not settings.require_double_opt_in:
        return False
    methods = settings.double_opt_in_methods
    return method in methods or (method is ConsentMethod.MAILCHIMP and ConsentMethod.FORM in methods)


def consent_expiry(grant: ConsentEvent, settings: PolicySettings) -> datetime | None:
    if settings.consent_max_age_days is None:
        return None
    return grant.occurred_at + timedelta(days=settings.consent_max_age_days)


def soft_opt_in(
    facts: ContactFacts, purpose: PurposeSettings, settings: PolicySettings, now: datetime
) -> _Window | None:
    """P3: the current relationship window that lasts longest, if any qualifies."""
    windows = [
        _Window(r, window_end(r, settings))
        for r in facts.relationships
        if qualifies_for_soft_opt_in(r, purpose, settings)
    ]
    current = [w for w in windows if w.relationship.started_at <= now and _open_at(w.ends_at, now)]
    if not current:
        return None
    return max(current, key=lambda w: _lasting(w, now))


def _lasting(window: _Window, now: datetime) -> tuple[bool, datetime, str]:
    """Orders windows by how long they last: open-ended last, ties broken by the relationship's id."""
    return (window.ends_at is None, window.ends_at or now, window.relationship.id)


def qualifies_for_soft_opt_in(
    relationship: Relationship, purpose: PurposeSettings, settings: PolicySettings
) -> bool:
    if not relationship.opt_out_offered or not purpose.is_similar_to(relationship.categories):
        return False
    if relationship.kind is RelationshipKind.PURCHASE:
        return _meets_min_order_value(relationship, settings)
    return True


def _meets_min_order_value(relationship: Relationship, settings: PolicySettings) -> bool:
    """With a minimum set, an order of unknown value is not shown to reach it (no basis, P1)."""
    minimum = settings.soft_opt_in.min_order_value
    value = relationship.order_value
    return minimum == 0 or (value is not None and value >= minimum)


def window_end(relationship: Relationship, settings: PolicySettings) -> datetime | None:
    """When the soft opt-in from this relationship ends (exclusive); ``None`` while it is open-ended."""
    follow_up = settings.follow_up
    match relationship.kind:
        case RelationshipKind.PURCHASE:
            served = relationship.service_date or relationship.started_at
            return served + timedelta(days=follow_up.purchase)
        case RelationshipKind.SUBSCRIPTION:
            return _after_end(relationship, follow_up.subscription)
        case RelationshipKind.ACCOUNT:
            return _after_end(relationship, follow_up.account)
    raise AssertionError(f"unhandled relationship kind {relationship.kind!r}")


def decide_transactional(
    facts: ContactFacts, settings: PolicySettings, now: datetime
) -> TransactionalDecision:
    """P4: notices while any order, subscription or account is open; never touched by opt-outs."""
    if facts.erased:
        contact = RecordRef(RecordKind.CONTACT, facts.contact_id)
        return TransactionalDecision(False, "the person's data was erased", None, (contact,))
    window = transactional_window(facts.relationships, settings.transactional_days_after_service, now)
    if window is None:
        return _NOTHING_OPEN
    relationship, ends_at = window
    reason = Reason(lambda: describe_relationship(relationship))
    return TransactionalDecision(True, reason, ends_at, (relationship.ref,))


def transactional_window(
    relationships: Iterable[Relationship], grace_days: int, now: datetime
) -> tuple[Relationship, datetime | None] | None:
    """P4's relationship at ``now`` and when it ends: of those started and not over (``grace_days``
    after service, or after the end), the one lasting longest (open-ended first, ties broken by the
    id, the first of equals); ``None`` when none is open. One pass, each end computed once."""
    best: tuple[bool, datetime, str] | None = None
    found: tuple[Relationship, datetime | None] | None = None
    for relationship in relationships:
        if relationship.started_at > now:
            continue
        ends_at = transactional_end(relationship, grace_days)
        if ends_at is not None and now >= ends_at:
            continue
        key = (ends_at is None, ends_at or now, relationship.id)
        if best is None or key > best:
            best, found = key, (relationship, ends_at)
    return found


_NOTHING_OPEN = TransactionalDecision(False, "no open order, subscription or account")


def transactional_end(relationship: Relationship, grace_days: int) -> datetime | None:
    if relationship.kind is RelationshipKind.PURCHASE:
        served = relationship.service_date or relationship.started_at
        return served + timedelta(days=grace_days)
    return _after_end(relationship, grace_days)


def next_review(
    marketing: Iterable[Decision],
    transactional: TransactionalDecision,
    now: datetime,
) -> datetime | None:
    """The earliest moment the answer can change without new data."""
    moments = [d.valid_until for d in marketing if d.valid_until is not None and d.valid_until > now]
    if transactional.valid_until is not None and transactional.valid_until > now:
        moments.append(transactional.valid_until)
    return min(moments, default=None)


def _allowed_by_consent(
    purpose: str, channel: Channel, consent: _Consent, settings: PolicySettings
) -> Decision:
    rule = settings.legacy_consents
    reason = Reason(lambda: _consent_reason(consent, rule))
    return Decision(
        purpose, channel, True, Basis.CONSENT, Rule.P2_CONSENT, reason, consent.expires_at, consent.records
    )


def _consent_reason(consent: _Consent, legacy_rule: str) -> str:
    grant = consent.grant
    reason = f"consent given {day(grant.occurred_at)} via {describe_source(grant)}"
    if is_legacy(grant):
        reason += f" (notice text not recorded; accepted by policy.legacy_consents = {legacy_rule})"
    elif grant.notice_version:
        reason += f" (notice {grant.notice_version})"
    if consent.confirmation is not None:
        reason += f", confirmed {day(consent.confirmation.occurred_at)}"
    return reason


_NO_CONSENT = "no consent and no customer relationship"


def _no_consent_words(purpose: PurposeSettings) -> str:
    if purpose.explicit_only:
        return f"{_NO_CONSENT}; only an act naming this purpose grants it (explicit_only)"
    return _NO_CONSENT


def _allowed_as_customer(
    purpose: str, channel: Channel, window: _Window, settings: PolicySettings
) -> Decision:
    relationship = window.relationship
    follow_up = _follow_up_days(relationship, settings)
    return Decision(
        purpose,
        channel,
        True,
        Basis.EXISTING_CUSTOMER,
        Rule.P3_SOFT_OPT_IN,
        Reason(lambda: _customer_reason(relationship, follow_up)),
        window.ends_at,
        (relationship.ref,),
    )


def _customer_reason(relationship: Relationship, follow_up: int) -> str:
    reason = f"existing customer, {describe_relationship(relationship)}"
    if follow_up:
        reason += f", follow-up {follow_up} days"
    return reason


def _no_basis(
    facts: ContactFacts,
    state: ConsentState,
    purpose: PurposeSettings,
    settings: PolicySettings,
    now: datetime,
) -> Decision:
    reason, records = _why_no_basis(facts, state, purpose, settings, now)
    if isinstance(reason, str) and not records:
        return _denied_without_records(purpose.name, state.channel, reason)
    return Decision(purpose.name, state.channel, False, Basis.NONE, Rule.P1_NO_BASIS, reason, None, records)


@functools.lru_cache(maxsize=1024)
def _denied_without_records(purpose: str, channel: Channel, reason: str) -> Decision:
    """P1 for reasons that name no record: one shared value per purpose, channel and reason."""
    return Decision(purpose, channel, False, Basis.NONE, Rule.P1_NO_BASIS, reason, None, ())


def _why_no_basis(
    facts: ContactFacts,
    state: ConsentState,
    purpose: PurposeSettings,
    settings: PolicySettings,
    now: datetime,
) -> tuple[str | Reason, tuple[RecordRef, ...]]:
    grant = state.grant
    if grant is not None and needs_confirmation(grant, settings) and state.confirmation is None:
        return Reason(lambda: _awaiting_confirmation_reason(grant)), (grant.ref,)
    if grant is not None and is_legacy(grant) and _legacy_refused(settings, now):
        rule = settings.legacy_consents
        return Reason(lambda: _legacy_refused_reason(grant, rule)), (grant.ref,)
    expiry = consent_expiry(grant, settings) if grant is not None else None
    if grant is not None and expiry is not None and now >= expiry:
        return Reason(lambda: _expired_reason(grant, expiry)), (grant.ref,)
    if state.not_consent is not None:
        event = state.not_consent
        return Reason(lambda: f"no valid consent: {_not_consent_reason(event)}"), (event.ref,)
    return _why_no_customer_basis(facts, purpose, settings, now)


def _legacy_refused(settings: PolicySettings, now: datetime) -> bool:
    until = settings.legacy_until
    return settings.legacy_consents == "refuse" or (until is not None and now >= until)


def _legacy_refused_reason(grant: ConsentEvent, rule: str) -> str:
    return (
        f"consent given {day(grant.occurred_at)} via {describe_source(grant)}: notice text not recorded; "
        f"not accepted by policy.legacy_consents = {rule}"
    )


def _awaiting_confirmation_reason(grant: ConsentEvent) -> str:
    return f"consent given {day(grant.occurred_at)} awaits double opt-in confirmation"


def _expired_reason(grant: ConsentEvent, expiry: datetime) -> str:
    return f"consent given {day(grant.occurred_at)} expired {day(expiry)}"


def _why_no_customer_basis(
    facts: ContactFacts, purpose: PurposeSettings, settings: PolicySettings, now: datetime
) -> tuple[str | Reason, tuple[RecordRef, ...]]:
    if not facts.relationships:
        return _no_consent_words(purpose), ()
    if not purpose.similar_products:
        return "no consent; this purpose needs consent even for customers", ()
    qualifying = [r for r in facts.relationships if qualifies_for_soft_opt_in(r, purpose, settings)]
    if not qualifying:
        return _why_no_relationship_qualifies(facts.relationships, purpose, settings)
    latest = max(qualifying, key=lambda r: (window_end(r, settings) or now, r.id))
    ended = window_end(latest, settings)
    if ended is not None and ended <= now:
        return Reason(lambda: _customer_basis_ended_reason(latest, ended)), (latest.ref,)
    return "no consent and no current customer relationship", ()


def _customer_basis_ended_reason(relationship: Relationship, ended: datetime) -> str:
    return f"no consent; existing-customer basis ended {day(ended)} ({describe_relationship(relationship)})"


def _why_no_relationship_qualifies(
    relationships: Iterable[Relationship], purpose: PurposeSettings, settings: PolicySettings
) -> tuple[Reason, tuple[RecordRef, ...]]:
    latest = max(relationships, key=lambda r: (r.started_at, r.id))
    return Reason(lambda: _not_qualifying_reason(latest, purpose, settings)), (latest.ref,)


def _not_qualifying_reason(latest: Relationship, purpose: PurposeSettings, settings: PolicySettings) -> str:
    if not latest.opt_out_offered:
        why = "no free opt-out was offered when the address was collected"
    elif not purpose.is_similar_to(latest.categories):
        why = "the products bought are not similar to this purpose"
    elif latest.order_value is None:
        why = f"the order value is unknown (minimum {settings.soft_opt_in.min_order_value})"
    else:
        why = f"the order value is below {settings.soft_opt_in.min_order_value}"
    return f"no consent; {describe_relationship(latest)} gives no existing-customer basis: {why}"


def _not_consent_reason(event: ConsentEvent) -> str:
    if not event.active_act:
        return f"the box was pre-ticked or not ticked by the person ({day(event.occurred_at)})"
    return f"the grant of {day(event.occurred_at)} lacks evidence (notice version or source)"


def _suppression_reason(entry: Suppression) -> str:
    what = {
        SuppressionReason.UNSUBSCRIBED: "unsubscribed",
        SuppressionReason.CLEANED: "address undeliverable (bounced)",
        SuppressionReason.COMPLAINED: "marked our e-mail as spam",
        SuppressionReason.ERASED: "asked to be erased",
    }[entry.reason]
    return f"address suppressed: {what} on {day(entry.created_at)}"


def _objection_reason(objection: Objection) -> str:
    purpose = objection.purpose or "all marketing"
    scope = f"{purpose} by {channel_label(objection.channel)}" if objection.channel else purpose
    return f"objected to {scope} on {day(objection.occurred_at)} via {source_label(objection.source)}"


def _withdrawal_reason(state: ConsentState) -> str:
    withdrawal = state.withdrawal
    assert withdrawal is not None
    reason = f"withdrawn {day(withdrawal.occurred_at)} via {describe_source(withdrawal)}"
    if state.grant is not None:
        reason += f"; the newer consent of {day(state.grant.occurred_at)} is not yet valid"
    return reason


def _withdrawal_records(state: ConsentState) -> tuple[RecordRef, ...]:
    assert state.withdrawal is not None
    return (state.withdrawal.ref,) + ((state.grant.ref,) if state.grant is not None else ())


def _latest_suppression(entries: Iterable[Suppression]) -> Suppression | None:
    return max(entries, key=lambda s: (s.created_at, s.reason.value, s.address_hash), default=None)


def _latest_objection(objections: Iterable[Objection], purpose: str, channel: Channel) -> Objection | None:
    covering = [o for o in objections if o.covers(purpose, channel)]
    return max(covering, key=lambda o: (o.occurred_at, o.id), default=None)


def _is_newer(candidate: datetime | None, than: datetime) -> bool:
    return candidate is not None and candidate > than


def _open_at(ends_at: datetime | None, now: datetime) -> bool:
    return ends_at is None or now < ends_at


def _after_end(relationship: Relationship, days: int) -> datetime | None:
    if relationship.ended_at is None:
        return None
    return relationship.ended_at + timedelta(days=days)


def _follow_up_days(relationship: Relationship, settings: PolicySettings) -> int:
    return int(getattr(settings.follow_up, relationship.kind.value))


def review_at(facts: ContactFacts, entitlement: Entitlement) -> datetime | None:
    """When to decide again: the entitlement's own next change, or a future-dated record taking effect."""
    now = entitlement.decided_at
    future = [e.occurred_at for e in facts.consent_events if e.occurred_at > now]
    future += [r.started_at for r in facts.relationships if r.started_at > now]
    future += [r.ended_at for r in facts.relationships if r.ended_at is not None and r.ended_at > now]
    future += [o.occurred_at for o in facts.objections if o.occurred_at > now]
    future += [s.created_at for s in facts.suppressions if s.created_at > now]
    candidates = future + ([entitlement.next_review_at] if entitlement.next_review_at else [])
    return min(candidates, default=None)
