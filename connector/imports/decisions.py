"""A finished draft becomes plan entries: the import's rules (docs/policy.md P0, P6), pure.

- A consent claim becomes consent only when attested: CSV evidence needs ``--source``; a Mailchimp
  export's opt-in needs ``--source`` or ``policy.trust_mailchimp_signup_forms``. Otherwise it is
  reported as ignored for consent and only contact data and relationships are written.
- Suppression and any opt-out (withdrawal or objection) at or after the claim's date always win: the
  claim is blocked and reported with the reason. Contact data may still update, except for an address
  erased (P7) and not known again since: such rows are blocked entirely, nothing is re-created.
- Opt-outs need no attestation (recording one can only make the store more careful); a Mailchimp
  unsubscribe is a withdrawal (or an objection, per ``policy.mailchimp_unsubscribe_means``) dated
  ``UNSUB_TIME``, a cleaned address a ``cleaned`` suppression dated ``CLEAN_TIME``.
- Nothing already stored is written again (same event, same relationship values, same suppression),
  so applying a file twice changes nothing.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from connector.core.model import Channel, ConsentAction, ConsentMethod, SuppressionReason
from connector.core.policy import method_needs_confirmation
from connector.core.policy_settings import PolicySettings
from connector.core.specificity import (
    NOTICE_UNKNOWN,
    Coverage,
    InterestMapping,
    Ticked,
    generic,
    mailchimp_sign_up,
    named,
)
from connector.core.wording import day
from connector.imports.merge import Claimed, Draft
from connector.imports.parsing.rows import ConsentClaim, RelationshipClaim, WithdrawalClaim
from connector.imports.plan import (
    CONTACT_FIELDS,
    AwaitingConfirmation,
    Blocked,
    ContactDecision,
    ContactStatus,
    EventDecision,
    IgnoredConsent,
    NotCovered,
    ObjectionDecision,
    RelationshipDecision,
    SuppressionDecision,
)
from connector.imports.store_state import OptOut, relationship_key


@dataclass(frozen=True, slots=True)
class Rules:
    """What the decisions depend on besides the rows and the store."""

    now: datetime
    source: str | None
    purposes: tuple[str, ...]
    """The audience's purposes: what a claim without a purpose column covers."""
    purpose_channels: dict[str, tuple[Channel, ...]]
    trust_mailchimp_signup_forms: bool
    unsubscribe_means: Literal["withdrawal", "objection"]
    policy: PolicySettings = field(default_factory=PolicySettings)
    interests: tuple[InterestMapping, ...] = ()
    """The audience's Mailchimp interests mapped to purposes."""
    signup_purposes: tuple[str, ...] = ("newsletter",)
    """What a Mailchimp export row whose groups are unknown grants."""
    mailchimp_notice_version: str | None = None
    """The audience's Mailchimp form wording, where configured; else the notice is recorded unknown."""
    source_notice_version: str | None = None
    """``imports.notice_versions`` for this ``--source``."""
    list_id: str | None = None


@dataclass(slots=True)
class Outcome:
    """The plan entries of one person."""

    contact: ContactDecision | None = None
    events: list[EventDecision] = field(default_factory=list)
    objections: list[ObjectionDecision] = field(default_factory=list)
    relationships: list[RelationshipDecision] = field(default_factory=list)
    suppressions: list[SuppressionDecision] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    ignored: list[IgnoredConsent] = field(default_factory=list)
    not_covered: list[NotCovered] = field(default_factory=list)
    awaiting: list[AwaitingConfirmation] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.events or self.objections or self.relationships or self.suppressions)


def decide_draft(draft: Draft, address_hash: str | None, rules: Rules) -> Outcome:
    """Plan entries for one person; ``address_hash`` is the suppression key of the address."""
    outcome = Outcome()
    erased = _erased_at(draft)
    if erased is not None and draft.existing is None:
        reason = f"blocked: address erased {day(erased)}; an import never brings an erased person back"
        outcome.blocked = [Blocked(where, draft.email, reason, False) for where in draft.lines]
        return outcome
    planned = _Planned(draft)
    opt_outs = [*(draft.existing.opt_outs if draft.existing else ()), *_import_opt_outs(draft, rules)]
    for claimed, claim in draft.withdrawals:
        _withdraw(outcome, planned, claimed, claim, rules)
    for claimed, consent in draft.consents:
        _consent(outcome, planned, claimed, consent, opt_outs, rules)
    outcome.suppressions = list(_suppressions(draft, address_hash, rules))
    outcome.relationships = list(_relationships(draft))
    outcome.contact = _contact(draft, outcome)
    return outcome


# ---------------------------------------------------------------------------------------------------
# Opt-outs and suppression


def _erased_at(draft: Draft) -> datetime | None:
    dates = [s.created_at for s in draft.suppressions if s.reason is SuppressionReason.ERASED]
    return max(dates) if dates else None


def _suppression_block(draft: Draft) -> str | None:
    if draft.suppressions:
        entry = max(draft.suppressions, key=lambda s: s.created_at)
        return f"blocked: address suppressed ({entry.reason.value}) since {day(entry.created_at)}"
    if draft.undeliverables:
        return "blocked: the import itself marks the address cleaned (undeliverable)"
    return None


def _import_opt_outs(draft: Draft, rules: Rules) -> Iterator[OptOut]:
    for claimed, claim in draft.withdrawals:
        at = claim.at or rules.now
        via = "Mailchimp" if claimed.from_mailchimp else "this import"
        purposes = claim.purposes or (None,)
        for purpose in purposes:
            yield OptOut(at, f"withdrew {day(at)} via {via} ({claimed.where})", purpose, claim.channel)


def _newer_opt_out(
    opt_outs: list[OptOut], purpose: str, channel: Channel, given_at: datetime
) -> OptOut | None:
    covering = [o for o in opt_outs if o.covers(purpose, channel) and o.at >= given_at]
    return max(covering, key=lambda o: o.at) if covering else None


# ---------------------------------------------------------------------------------------------------
# Consent events


class _Planned:
    """The events a person already has, stored or planned, so nothing is written twice."""

    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.key = draft.key
        self.events: set[tuple[str, str, str, datetime]] = (
            set(draft.existing.events) if draft.existing else set()
        )
        self.objections: set[datetime] = set(draft.existing.objections) if draft.existing else set()
        self.withdrawn = draft.existing.withdrawn if draft.existing else frozenset()

    def is_new(self, purpose: str, channel: Channel, action: ConsentAction, at: datetime) -> bool:
        key = (purpose, channel.value, action.value, at)
        if key in self.events:
            return False
        self.events.add(key)
        return True


def _withdraw(
    outcome: Outcome, planned: _Planned, claimed: Claimed, claim: WithdrawalClaim, rules: Rules
) -> None:
    at = claim.at or rules.now
    reason = _withdrawal_reference(claimed, claim)
    if claimed.from_mailchimp and rules.unsubscribe_means == "objection":
        if at not in planned.objections:
            planned.objections.add(at)
            outcome.objections.append(ObjectionDecision(planned.key, at, reason))
        return
    method = ConsentMethod.MAILCHIMP if claimed.from_mailchimp else claim.method or ConsentMethod.IMPORT
    for purpose in claim.purposes or rules.purposes:
        if claim.channel not in rules.purpose_channels.get(purpose, ()):
            continue
        if claim.at is None and (purpose, claim.channel.value) in planned.withdrawn:
            continue  # an undated opt-out of someone already opted out adds nothing (and stays idempotent)
        if planned.is_new(purpose, claim.channel, ConsentAction.WITHDRAWN, at):
            outcome.events.append(
                EventDecision(
                    planned.key,
                    purpose,
                    claim.channel,
                    ConsentAction.WITHDRAWN,
                    at,
                    method,
                    None,
                    None,
                    reason,
                )
            )


def _withdrawal_reference(claimed: Claimed, claim: WithdrawalClaim) -> str:
    parts = [str(claimed.where)]
    if claim.campaign or claim.campaign_id:
        parts.append(f"campaign {claim.campaign or claim.campaign_id}")
    if claim.reason:
        parts.append(claim.reason)
    return "; ".join(parts)[:300]


def _consent(
    outcome: Outcome,
    planned: _Planned,
    claimed: Claimed,
    claim: ConsentClaim,
    opt_outs: list[OptOut],
    rules: Rules,
) -> None:
    unknown = [p for p in claim.purposes if claim.channel not in rules.purpose_channels.get(p, ())]
    if unknown:
        reason = f"purpose {unknown[0]!r} is not configured for {claim.channel.value}: consent not recorded"
        outcome.ignored.append(IgnoredConsent(claimed.where, reason))
        return
    coverage = claim_coverage(claim, rules)
    purposes = tuple(p for p in coverage.granted if claim.channel in rules.purpose_channels.get(p, ()))
    outcome.not_covered += [NotCovered(claimed.where, p, why) for p, why in coverage.not_covered]
    if not purposes:
        return
    blocked = _block_reason(planned.draft, claim, purposes, opt_outs)
    if blocked:
        outcome.blocked.append(Blocked(claimed.where, planned.draft.email, blocked, True))
        return
    unattested = _unattested(claim, rules)
    if unattested:
        outcome.ignored.append(IgnoredConsent(claimed.where, unattested))
        return
    for purpose in purposes:
        outcome.events.extend(_grant_events(planned, purpose, claim, claimed, rules))
    if claim.confirmed_at is None and method_needs_confirmation(claim.method, rules.policy):
        why = "no CONFIRM_TIME" if claim.method is ConsentMethod.MAILCHIMP else f"method {claim.method.value}"
        outcome.awaiting.append(AwaitingConfirmation(claimed.where, purposes, why))


def _block_reason(
    draft: Draft, claim: ConsentClaim, purposes: tuple[str, ...], opt_outs: list[OptOut]
) -> str | None:
    """Why the claim may not become consent: a suppressed address, or an opt-out at or after it."""
    if claim.channel is Channel.EMAIL:
        suppressed = _suppression_block(draft)
        if suppressed:
            return suppressed
    for purpose in purposes:
        newer = _newer_opt_out(opt_outs, purpose, claim.channel, claim.given_at)
        if newer is not None:
            return f"blocked: {newer.description}"
    return None


def claim_coverage(claim: ConsentClaim, rules: Rules) -> Coverage:
    """The purposes a claim covers (DESIGN §3 P2 "specific"): the ones it names; for a Mailchimp
    sign-up the mapped interests it ticked (else ``mailchimp_signup_purposes``); for a row naming no
    purpose the audience's purposes but the ``explicit_only`` ones."""
    if claim.purposes:
        return named(claim.purposes)
    if claim.method is ConsentMethod.MAILCHIMP and not claim.source_required:
        ticked = Ticked.from_groups(claim.groups) if claim.groups else None
        return mailchimp_sign_up(rules.purposes, rules.policy, rules.interests, rules.signup_purposes, ticked)
    return generic(rules.purposes, rules.policy, "a row without a purpose column")


def _unattested(claim: ConsentClaim, rules: Rules) -> str | None:
    if claim.source_required and rules.source is None:
        return "consent evidence without --source naming who attests it: contact data only (P6)"
    if not claim.source_required and rules.source is None and not rules.trust_mailchimp_signup_forms:
        return (
            "Mailchimp opt-in is consent only with --source or policy.trust_mailchimp_signup_forms: "
            "contact data only (P6)"
        )
    return None


def _grant_events(
    planned: _Planned, purpose: str, claim: ConsentClaim, claimed: Claimed, rules: Rules
) -> Iterator[EventDecision]:
    notice, reference = _evidence(claim, claimed, rules)
    requested = claim.given_at if claim.confirmed_at is not None else None
    if planned.is_new(purpose, claim.channel, ConsentAction.GIVEN, claim.given_at):
        yield EventDecision(
            planned.key, purpose, claim.channel, ConsentAction.GIVEN, claim.given_at, claim.method,
            notice, claim.ip, reference, requested,
        )  # fmt: skip
    confirmed = claim.confirmed_at
    if confirmed is not None and planned.is_new(purpose, claim.channel, ConsentAction.CONFIRMED, confirmed):
        yield EventDecision(
            planned.key, purpose, claim.channel, ConsentAction.CONFIRMED, confirmed, claim.method,
            notice, claim.confirm_ip or claim.ip, reference, requested,
        )  # fmt: skip


def _evidence(claim: ConsentClaim, claimed: Claimed, rules: Rules) -> tuple[str, str]:
    """The notice version as known (never invented: ``unknown`` where nobody recorded it) and where the
    claim came from (file and line; for a Mailchimp export also the list and the row's LAST_CHANGED)."""
    mailchimp = claim.method is ConsentMethod.MAILCHIMP and not claim.source_required
    configured = rules.mailchimp_notice_version if mailchimp else rules.source_notice_version
    notice = claim.notice_version or configured or NOTICE_UNKNOWN
    if not mailchimp:
        return notice, claim.source_ref or str(claimed.where)
    parts = [str(claimed.where), f"Mailchimp export of list {rules.list_id or 'unknown'}"]
    if claim.recorded_as:
        parts.append(claim.recorded_as)
    return notice, "; ".join(parts)[:300]


# ---------------------------------------------------------------------------------------------------
# Suppressions, relationships, contact


def _suppressions(draft: Draft, address_hash: str | None, rules: Rules) -> Iterator[SuppressionDecision]:
    if address_hash is None or not draft.undeliverables:
        return
    if any(s.reason is SuppressionReason.CLEANED for s in draft.suppressions):
        return
    dates = [claim.at or rules.now for _, claim in draft.undeliverables]
    yield SuppressionDecision(draft.key, address_hash, SuppressionReason.CLEANED, min(dates))


def relationship_values(claim: RelationshipClaim) -> tuple[object, ...]:
    """The compared values of a relationship claim (the same tuple as a stored relationship's)."""
    amount = None if claim.amount is None else claim.amount.normalize()
    return (
        claim.started_at,
        claim.service_date,
        claim.ended_at,
        tuple(sorted(claim.categories)),
        amount,
        claim.opt_out_offered,
        claim.item,
    )


def _relationships(draft: Draft) -> Iterator[RelationshipDecision]:
    latest: dict[tuple[str, str], RelationshipClaim] = {}
    for _, claim in draft.relationships:
        latest[relationship_key(claim.kind.value, claim.reference, claim.started_at)] = claim
    stored = draft.existing.relationships if draft.existing else {}
    for key, claim in latest.items():
        existing = stored.get(key)
        if existing is not None and existing.values == relationship_values(claim):
            continue
        yield RelationshipDecision(
            draft.key,
            existing.id if existing else None,
            claim.kind,
            claim.reference,
            claim.started_at,
            claim.service_date,
            claim.ended_at,
            tuple(sorted(claim.categories)),
            claim.amount,
            claim.opt_out_offered,
            claim.item,
        )


def contact_decision(draft: Draft) -> ContactDecision:
    """The decision for a person the rows only give contact data for (the common, fast case)."""
    return _contact(draft, None)


def _contact(draft: Draft, outcome: Outcome | None) -> ContactDecision:
    existing = draft.existing
    values = draft.values
    if existing is None:
        return ContactDecision(draft.key, None, draft.email, values, (), ContactStatus.NEW, True)
    changed = _changed_fields(existing.values, values)
    touched = bool(changed or (outcome is not None and outcome.writes))
    status = ContactStatus.UPDATED if touched else ContactStatus.UNCHANGED
    return ContactDecision(draft.key, existing.id, draft.email, values, changed, status, touched)


def _changed_fields(before: tuple[str | None, ...], after: tuple[str | None, ...]) -> tuple[str, ...]:
    if before == after:
        return ()
    return tuple(name for name, old, new in zip(CONTACT_FIELDS, before, after, strict=True) if old != new)
