"""The policy as it was before deciding was made cheap (commit 7b9a0b4): every reason put into words at once,
no shared values. Kept, unchanged but for this docstring and its fold, as the reference
``connector.core.policy`` must equal in every decision and every word (``test_policy_properties``).
A deliberate change to the policy's rules or wording changes both. It folds consent events with its
own fold (``consent_reference``), not production's, so a mistake in ``connector.core.consent`` cannot
hide in both.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.core.consent import ConsentKey, ConsentState
from connector.core.model import (
    Basis,
    Channel,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
    Decision,
    Entitlement,
    Objection,
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
from connector.core.wording import channel_label, day, describe_relationship, describe_source, source_label
from tests.core.consent_reference import fold


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
        decide_marketing(known, states, purpose, channel, settings, now)
        for purpose in settings.purposes
        for channel in purpose.channels
    )
    transactional = decide_transactional(known, settings, now)
    return Entitlement(
        contact_id=facts.contact_id,
        decided_at=now,
        marketing=marketing,
        transactional=transactional,
        next_review_at=next_review(marketing, transactional, now),
    )


def decide_marketing(
    facts: ContactFacts,
    states: Mapping[ConsentKey, ConsentState],
    purpose: PurposeSettings,
    channel: Channel,
    settings: PolicySettings,
    now: datetime,
) -> Decision:
    """P0 hard stops first, then a basis: valid consent (P2) or soft opt-in (P3), else P1."""
    state = states.get((purpose.name, channel)) or ConsentState(purpose=purpose.name, channel=channel)
    consent = valid_consent(state, settings, now)
    stop = hard_stop(facts, state, purpose.name, channel, consent)
    if stop is not None:
        return stop
    if consent is not None:
        return _allowed_by_consent(purpose.name, channel, consent, settings)
    window = soft_opt_in(facts, purpose, settings, now)
    if window is not None:
        return _allowed_as_customer(purpose.name, channel, window, settings)
    return _no_basis(facts, state, purpose, settings, now)


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

    if facts.erased or facts.processing_restricted or not _has_address(facts, channel):
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
            return _deny(purpose, channel, _suppression_reason(suppression), suppression.ref)
    objection = _latest_objection(facts.objections, purpose, channel) if facts.objections else None
    if objection is not None and not _is_newer(newer_than, objection.occurred_at):
        return _deny(purpose, channel, _objection_reason(objection), objection.ref)
    if state.withdrawal is not None and consent is None:
        return _deny(purpose, channel, _withdrawal_reason(state), *_withdrawal_records(state))
    return None


def _deny(purpose: str, channel: Channel, reason: str, *records: RecordRef) -> Decision:
    return Decision(purpose, channel, False, Basis.NONE, Rule.P0_HARD_STOP, reason, None, records)


def _has_address(facts: ContactFacts, channel: Channel) -> bool:
    return facts.has_email if channel is Channel.EMAIL else facts.has_phone


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
    if grant.notice_version == "unknown":
        if settings.legacy_consents == "refuse":
            return None
        if settings.legacy_consents.startswith("accept-until "):
            until = datetime.fromisoformat(settings.legacy_consents.split()[1]).replace(tzinfo=UTC)
            expires_at = until if expires_at is None else min(expires_at, until)
    if expires_at is not None and now >= expires_at:
        return None
    return _Consent(grant=grant, confirmation=confirmation, expires_at=expires_at)


def needs_confirmation(grant: ConsentEvent, settings: PolicySettings) -> bool:
    methods = set(settings.double_opt_in_methods)
    if ConsentMethod.FORM in methods:
        methods.add(ConsentMethod.MAILCHIMP)  # a Mailchimp sign-up form is a form
    return settings.require_double_opt_in and grant.method in methods


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
    return max(current, key=lambda w: (w.ends_at is None, w.ends_at or now, w.relationship.id))


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
    contact = RecordRef(RecordKind.CONTACT, facts.contact_id)
    if facts.erased:
        return TransactionalDecision(False, "the person's data was erased", None, (contact,))
    grace = settings.transactional_days_after_service
    open_ones = [
        _Window(r, transactional_end(r, grace))
        for r in facts.relationships
        if r.started_at <= now and _open_at(transactional_end(r, grace), now)
    ]
    if not open_ones:
        return TransactionalDecision(False, "no open order, subscription or account")
    best = max(open_ones, key=lambda w: (w.ends_at is None, w.ends_at or now, w.relationship.id))
    reason = f"{describe_relationship(best.relationship)}"
    return TransactionalDecision(True, reason, best.ends_at, (best.relationship.ref,))


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
    moments = [d.valid_until for d in marketing if d.valid_until is not None]
    moments += [transactional.valid_until] if transactional.valid_until is not None else []
    future = [m for m in moments if m > now]
    return min(future, default=None)


def _allowed_by_consent(
    purpose: str, channel: Channel, consent: _Consent, settings: PolicySettings
) -> Decision:
    grant = consent.grant
    reason = f"consent given {day(grant.occurred_at)} via {describe_source(grant)}"
    if grant.notice_version == "unknown":
        reason += (
            f" (notice text not recorded; accepted by policy.legacy_consents = {settings.legacy_consents})"
        )
    elif grant.notice_version:
        reason += f" (notice {grant.notice_version})"
    if consent.confirmation is not None:
        reason += f", confirmed {day(consent.confirmation.occurred_at)}"
    return Decision(
        purpose, channel, True, Basis.CONSENT, Rule.P2_CONSENT, reason, consent.expires_at, consent.records
    )


def _allowed_as_customer(
    purpose: str, channel: Channel, window: _Window, settings: PolicySettings
) -> Decision:
    relationship = window.relationship
    reason = f"existing customer, {describe_relationship(relationship)}"
    follow_up = _follow_up_days(relationship, settings)
    if follow_up:
        reason += f", follow-up {follow_up} days"
    return Decision(
        purpose,
        channel,
        True,
        Basis.EXISTING_CUSTOMER,
        Rule.P3_SOFT_OPT_IN,
        reason,
        window.ends_at,
        (relationship.ref,),
    )


def _no_basis(
    facts: ContactFacts,
    state: ConsentState,
    purpose: PurposeSettings,
    settings: PolicySettings,
    now: datetime,
) -> Decision:
    reason, records = _why_no_basis(facts, state, purpose, settings, now)
    return Decision(purpose.name, state.channel, False, Basis.NONE, Rule.P1_NO_BASIS, reason, None, records)


def _why_no_basis(
    facts: ContactFacts,
    state: ConsentState,
    purpose: PurposeSettings,
    settings: PolicySettings,
    now: datetime,
) -> tuple[str, tuple[RecordRef, ...]]:
    grant = state.grant
    if grant is not None and needs_confirmation(grant, settings) and state.confirmation is None:
        return f"consent given {day(grant.occurred_at)} awaits double opt-in confirmation", (grant.ref,)
    legacy_day = _legacy_day(settings)
    legacy_refused = settings.legacy_consents == "refuse" or (legacy_day is not None and now >= legacy_day)
    if grant is not None and grant.notice_version == "unknown" and legacy_refused:
        return (
            f"consent given {day(grant.occurred_at)} via {describe_source(grant)}: "
            f"notice text not recorded; not accepted by policy.legacy_consents = {settings.legacy_consents}",
            (grant.ref,),
        )
    expiry = consent_expiry(grant, settings) if grant is not None else None
    if grant is not None and expiry is not None and now >= expiry:
        return f"consent given {day(grant.occurred_at)} expired {day(expiry)}", (grant.ref,)
    if state.not_consent is not None:
        return f"no valid consent: {_not_consent_reason(state.not_consent)}", (state.not_consent.ref,)
    return _why_no_customer_basis(facts, purpose, settings, now)


def _legacy_day(settings: PolicySettings) -> datetime | None:
    if not settings.legacy_consents.startswith("accept-until "):
        return None
    return datetime.fromisoformat(settings.legacy_consents.split()[1]).replace(tzinfo=UTC)


def _why_no_customer_basis(
    facts: ContactFacts, purpose: PurposeSettings, settings: PolicySettings, now: datetime
) -> tuple[str, tuple[RecordRef, ...]]:
    if not facts.relationships:
        if purpose.explicit_only:
            return (
                "no consent and no customer relationship; "
                "only an act naming this purpose grants it (explicit_only)",
                (),
            )
        return "no consent and no customer relationship", ()
    if not purpose.similar_products:
        return "no consent; this purpose needs consent even for customers", ()
    qualifying = [r for r in facts.relationships if qualifies_for_soft_opt_in(r, purpose, settings)]
    if not qualifying:
        return _why_no_relationship_qualifies(facts.relationships, purpose, settings)
    latest = max(qualifying, key=lambda r: (window_end(r, settings) or now, r.id))
    ended = window_end(latest, settings)
    if ended is not None and ended <= now:
        return (
            f"no consent; existing-customer basis ended {day(ended)} ({describe_relationship(latest)})",
            (latest.ref,),
        )
    return "no consent and no current customer relationship", ()


def _why_no_relationship_qualifies(
    relationships: Iterable[Relationship], purpose: PurposeSettings, settings: PolicySettings
) -> tuple[str, tuple[RecordRef, ...]]:
    latest = max(relationships, key=lambda r: (r.started_at, r.id))
    if not latest.opt_out_offered:
        why = "no free opt-out was offered when the address was collected"
    elif not purpose.is_similar_to(latest.categories):
        why = "the products bought are not similar to this purpose"
    elif latest.order_value is None:
        why = f"the order value is unknown (minimum {settings.soft_opt_in.min_order_value})"
    else:
        why = f"the order value is below {settings.soft_opt_in.min_order_value}"
    return f"no consent; {describe_relationship(latest)} gives no existing-customer basis: {why}", (
        latest.ref,
    )


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
