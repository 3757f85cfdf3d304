"""Re-permission campaigns (README "Re-permission"), pure: who is asked again for a purpose, who never is,
and what becomes of a stale consent whose holder did not confirm in time.

A campaign asks the contacts whose e-mail consent for one purpose is *unconfirmed* (double opt-in
required and never confirmed), *legacy* (the notice text was never recorded) or *stale* (older than
``policy.consent_max_age_days``), through Mailchimp's own double opt-in: the shell sets them ``pending``
and Mailchimp sends its confirmation e-mail. Nobody who withdrew, objected, was suppressed (unsubscribed,
bounced, complained, erased), whose processing is restricted, or who opted out in Mailchimp is ever
asked. A confirmation is a fresh, confirmed consent with the campaign's notice version; without one by
the deadline the stale consent ends (a withdrawal recorded by the system, "not re-confirmed") — that
consent only: a newer consent given meanwhile, and every other purpose, stay as they are.

Every time is an argument; nothing here reads a clock, a database or the network.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from connector.core.consent import ConsentState, fold
from connector.core.model import Channel, ConsentEvent, ContactFacts
from connector.core.policy import consent_expiry, is_legacy, needs_confirmation
from connector.core.policy_settings import PolicySettings
from connector.core.remote import MemberStatus
from connector.core.wording import day

SOURCE = "repermission"
"""The ``source`` of the consent events a campaign records (its confirmations and lapses)."""
NOT_RECONFIRMED = "not re-confirmed"
"""The reason a lapsed stale consent carries (in its ``source_ref``)."""


class AskReason(StrEnum):
    UNCONFIRMED = "unconfirmed"
    LEGACY = "legacy"
    STALE = "stale"


class LeftOutReason(StrEnum):
    ERASED = "erased"
    RESTRICTED = "restricted"
    NO_EMAIL = "no_email"
    SUPPRESSED = "suppressed"
    OBJECTED = "objected"
    WITHDRAWN = "withdrawn"
    OPTED_OUT_IN_MAILCHIMP = "opted_out_in_mailchimp"
    FORGOTTEN_IN_MAILCHIMP = "forgotten_in_mailchimp"
    ALREADY_ASKED = "already_asked"
    CURRENT = "current"


NEVER_ASKED = frozenset(
    {
        LeftOutReason.ERASED,
        LeftOutReason.RESTRICTED,
        LeftOutReason.SUPPRESSED,
        LeftOutReason.OBJECTED,
        LeftOutReason.WITHDRAWN,
        LeftOutReason.OPTED_OUT_IN_MAILCHIMP,
    }
)
"""Reasons that come from the person's own act (or the law): no campaign ever asks them."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A contact holding (or having held) an e-mail consent event for the campaign's purpose.

    ``member_status`` is the member's status in the audience's Mailchimp list as last confirmed
    (``None``: not a member); ``asked_in`` the campaign that already asked them and awaits their answer.
    """

    facts: ContactFacts
    email: str | None
    member_status: MemberStatus | None = None
    forgotten: bool = False
    asked_in: str | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    contact_id: str
    email: str
    reason: AskReason
    grant_id: str
    """The stale grant the campaign asks about: what ends if the person does not confirm."""
    why: str


@dataclass(frozen=True, slots=True)
class LeftOut:
    contact_id: str
    email: str | None
    reason: LeftOutReason
    why: str


@dataclass(frozen=True, slots=True)
class RepermissionPlan:
    campaign_id: str
    purpose: str
    planned_at: datetime
    asked: tuple[Ask, ...]
    left_out: tuple[LeftOut, ...]
    not_concerned: int = 0
    """Candidates without any live or withdrawn consent for the purpose (nothing to ask about)."""

    def counts(self) -> dict[str, int]:
        counted: Counter[str] = Counter(f"ask:{a.reason.value}" for a in self.asked)
        counted.update(f"left_out:{left.reason.value}" for left in self.left_out)
        return dict(sorted(counted.items()))


def plan_repermission(
    campaign_id: str,
    purpose: str,
    candidates: Iterable[Candidate],
    settings: PolicySettings,
    now: datetime,
) -> RepermissionPlan:
    """Who the campaign asks (and why), who it leaves out (and why), at ``now``."""
    asked: list[Ask] = []
    left_out: list[LeftOut] = []
    not_concerned = 0
    for candidate in sorted(candidates, key=lambda c: c.facts.contact_id):
        found = select(candidate, purpose, settings, now)
        if found is None:
            not_concerned += 1
        elif isinstance(found, Ask):
            asked.append(found)
        else:
            left_out.append(found)
    return RepermissionPlan(campaign_id, purpose, now, tuple(asked), tuple(left_out), not_concerned)


def select(
    candidate: Candidate, purpose: str, settings: PolicySettings, now: datetime
) -> Ask | LeftOut | None:
    """The answer for one contact: asked, left out, or ``None`` (no consent for the purpose at all)."""
    facts = candidate.facts.as_of(now)
    stop = _hard_stop(candidate, facts, purpose)
    if stop is not None:
        return stop
    state = fold(facts.consent_events).get((purpose, Channel.EMAIL))
    if state is None or (state.grant is None and state.withdrawal is None):
        return None
    if state.grant is None:
        assert state.withdrawal is not None
        return _left(candidate, LeftOutReason.WITHDRAWN, _withdrawn_words(state.withdrawal))
    member = _member_stop(candidate)
    if member is not None:
        return member
    found = _why_ask(state, settings, now)
    if found is None:
        return _left(candidate, LeftOutReason.CURRENT, "consent is confirmed, its notice known and fresh")
    reason, grant, why = found
    assert candidate.email is not None
    return Ask(facts.contact_id, candidate.email, reason, grant.id, why)


def _hard_stop(candidate: Candidate, facts: ContactFacts, purpose: str) -> LeftOut | None:
    if facts.erased:
        return _left(candidate, LeftOutReason.ERASED, "the person's data was erased")
    if facts.processing_restricted:
        return _left(candidate, LeftOutReason.RESTRICTED, "processing is restricted for this person")
    if not facts.has_email or not candidate.email:
        return _left(candidate, LeftOutReason.NO_EMAIL, "no e-mail address on record")
    if facts.suppressions:
        entry = max(facts.suppressions, key=lambda s: (s.created_at, s.reason.value))
        why = f"address suppressed ({entry.reason.value}) on {day(entry.created_at)}"
        return _left(candidate, LeftOutReason.SUPPRESSED, why)
    objections = [o for o in facts.objections if o.covers(purpose, Channel.EMAIL)]
    if objections:
        latest = max(objections, key=lambda o: (o.occurred_at, o.id))
        why = f"objected to {latest.purpose or 'all marketing'} on {day(latest.occurred_at)}"
        return _left(candidate, LeftOutReason.OBJECTED, why)
    return None


def _member_stop(candidate: Candidate) -> LeftOut | None:
    if candidate.forgotten:
        return _left(candidate, LeftOutReason.FORGOTTEN_IN_MAILCHIMP, "permanently deleted in Mailchimp")
    if candidate.member_status in (MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED):
        status = candidate.member_status.value
        return _left(candidate, LeftOutReason.OPTED_OUT_IN_MAILCHIMP, f"{status} in Mailchimp")
    if candidate.asked_in is not None:
        why = f"already asked by campaign {candidate.asked_in}; awaiting the answer"
        return _left(candidate, LeftOutReason.ALREADY_ASKED, why)
    return None


def _why_ask(
    state: ConsentState, settings: PolicySettings, now: datetime
) -> tuple[AskReason, ConsentEvent, str] | None:
    grant = state.grant
    assert grant is not None
    if needs_confirmation(grant, settings) and state.confirmation is None:
        if state.confirmed is None:
            return AskReason.UNCONFIRMED, grant, f"consent of {day(grant.occurred_at)} was never confirmed"
        grant = state.confirmed[0]  # a repeat sign-up awaits confirmation; the earlier confirmed one counts
    if is_legacy(grant):
        why = f"consent of {day(grant.occurred_at)}: the notice text was not recorded (legacy)"
        return AskReason.LEGACY, grant, why
    expiry = consent_expiry(grant, settings)
    if expiry is not None and now >= expiry:
        why = f"consent of {day(grant.occurred_at)} is older than {settings.consent_max_age_days} days"
        return AskReason.STALE, grant, why
    return None


def _withdrawn_words(withdrawal: ConsentEvent) -> str:
    if withdrawal.source == SOURCE:
        return f"not re-confirmed when asked before ({day(withdrawal.occurred_at)})"
    return f"withdrew consent on {day(withdrawal.occurred_at)}"


def _left(candidate: Candidate, reason: LeftOutReason, why: str) -> LeftOut:
    return LeftOut(candidate.facts.contact_id, candidate.email, reason, why)


# --- after the campaign: confirmation and expiry ---------------------------------------------------------


def deadline(asked_at: datetime, expires_days: int) -> datetime:
    return asked_at + timedelta(days=expires_days)


class Expiry(StrEnum):
    WAITING = "waiting"
    """Before the deadline: nothing to do yet."""
    END_STALE = "expired"
    """The deadline passed and the stale consent still stands: it ends ("not re-confirmed")."""
    SUPERSEDED = "superseded"
    """A newer consent was given after the person was asked: it stands; nothing ends."""
    GONE = "gone"
    """The consent was withdrawn meanwhile: nothing left to end."""


@dataclass(frozen=True, slots=True)
class AskedMember:
    """A campaign's member still awaiting the answer."""

    contact_id: str
    purpose: str
    grant_id: str
    asked_at: datetime
    deadline_at: datetime


def expiry(member: AskedMember, facts: ContactFacts, now: datetime) -> Expiry:
    """What the deadline does for one member at ``now`` (only ever the stale grant's purpose × e-mail)."""
    if now < member.deadline_at:
        return Expiry.WAITING
    state = fold(facts.as_of(now).consent_events).get((member.purpose, Channel.EMAIL))
    if state is None or state.grant is None:
        return Expiry.GONE
    grant = state.grant
    if grant.id != member.grant_id and grant.occurred_at > member.asked_at:
        return Expiry.SUPERSEDED
    return Expiry.END_STALE


def lapse_reference(campaign_id: str) -> str:
    """The ``source_ref`` of a lapse: the reason and the campaign."""
    return f"{NOT_RECONFIRMED}, campaign {campaign_id}"


def confirmation_reference(campaign_id: str) -> str:
    """The ``source_ref`` of a re-permission confirmation: the campaign that asked."""
    return f"campaign {campaign_id}, Mailchimp double opt-in"
