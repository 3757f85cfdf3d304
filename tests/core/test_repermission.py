"""Re-permission campaigns, pure (connector/core/repermission.py): who is asked, who never is, and what
the deadline ends.

Properties over random histories: nobody who withdrew, objected, was suppressed, erased or restricted is
ever asked, nor anyone the policy counts as opted out; an expiry ends only the stale consent of the
campaign's purpose by e-mail (every other decision stays as it was).
"""

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.consent import fold
from connector.core.desired import AudienceMapping, ContactProfile, build
from connector.core.model import (
    Actor,
    Basis,
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
)
from connector.core.plan import diff
from connector.core.policy import decide
from connector.core.policy_settings import PolicySettings
from connector.core.remote import MemberStatus, RemoteMember, subscriber_hash
from connector.core.repermission import (
    SOURCE,
    Ask,
    AskedMember,
    AskReason,
    Candidate,
    Expiry,
    LeftOut,
    LeftOutReason,
    deadline,
    expiry,
    lapse_reference,
    plan_repermission,
    select,
)
from connector.core.specificity import NOTICE_UNKNOWN
from tests.core.builders import (
    NOW,
    SuppressionReason,
    confirmation,
    day,
    facts,
    form_grant,
    grant,
    objection,
    suppression,
    withdrawal,
)
from tests.core.test_policy_properties import NOW as PROPERTY_NOW
from tests.core.test_policy_properties import SETTINGS, contact_facts

EXAMPLES = settings(max_examples=200, deadline=None)
statuses = st.sampled_from((None, *MemberStatus))
PROPERTY_START = PROPERTY_NOW - timedelta(days=10, hours=6)


@st.composite
def grants(draw: st.DrawFn, index: int) -> ConsentEvent:
    """An act of consent for a campaign's purpose by e-mail: legacy, unconfirmed or plain."""
    return ConsentEvent(
        id=f"grant-{index:02d}",
        purpose=draw(st.sampled_from(("newsletter", "offers", "partner_offers"))),
        channel=Channel.EMAIL,
        action=ConsentAction.GIVEN,
        occurred_at=PROPERTY_START
        + timedelta(days=draw(st.integers(0, 20)), hours=draw(st.sampled_from((0, 12)))),
        method=draw(st.sampled_from((ConsentMethod.FORM, ConsentMethod.IMPORT, ConsentMethod.CHECKOUT))),
        source="shop",
        notice_version=draw(st.sampled_from(("notice-3", NOTICE_UNKNOWN))),
        active_act=True,
    )


@st.composite
def histories(draw: st.DrawFn) -> ContactFacts:
    """Random histories (often with opt-outs of every kind) plus grants worth asking about; half of them
    without the hard stops that make most random histories uninteresting here."""
    history = draw(contact_facts)
    extra = draw(st.lists(st.integers(0, 99), min_size=1, max_size=3))
    added = tuple(draw(grants(50 + i)) for i, _ in enumerate(extra))
    history = replace(history, consent_events=(*history.consent_events, *added))
    if draw(st.booleans()):
        history = replace(history, erased=False, processing_restricted=False, has_email=True, suppressions=())
    return history


def _lapse(purpose: str, at_: object, campaign: str = "c1") -> ConsentEvent:
    assert isinstance(at_, type(NOW))
    return ConsentEvent(
        id="lapse-1",
        purpose=purpose,
        channel=Channel.EMAIL,
        action=ConsentAction.WITHDRAWN,
        occurred_at=at_,
        method=ConsentMethod.OTHER,
        source=SOURCE,
        recorded_by=Actor.SYSTEM,
        source_ref=lapse_reference(campaign),
    )


def _pick(found: Ask | LeftOut | None) -> str:
    if found is None:
        return "none"
    return found.reason.value


# --- properties ------------------------------------------------------------------------------------------


@EXAMPLES
@given(
    histories(),
    st.sampled_from(SETTINGS),
    statuses,
    st.sampled_from(("newsletter", "offers", "partner_offers")),
)
def test_nobody_who_withdrew_objected_or_was_suppressed_is_ever_asked(
    history: ContactFacts, policy: PolicySettings, status: MemberStatus | None, purpose: str
) -> None:
    candidate = Candidate(history, "person@example.no", status)
    found = select(candidate, purpose, policy, PROPERTY_NOW)
    if not isinstance(found, Ask):
        return
    known = history.as_of(PROPERTY_NOW)
    assert not known.erased
    assert not known.processing_restricted
    assert known.has_email
    assert not known.suppressions
    assert not [o for o in known.objections if o.covers(purpose, Channel.EMAIL)]
    state = fold(known.consent_events)[(purpose, Channel.EMAIL)]
    assert state.grant is not None, "a campaign asks about a consent that stands"
    assert status not in (MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED)
    decision = decide(history, policy, PROPERTY_NOW).decision(purpose, Channel.EMAIL)
    assert decision is not None
    assert not decision.opted_out, decision.reason
    assert found.grant_id in {e.id for e in known.consent_events}


@EXAMPLES
@given(histories(), st.sampled_from(SETTINGS), st.sampled_from(("newsletter", "offers", "partner_offers")))
def test_an_expiry_ends_only_the_stale_consent(
    history: ContactFacts, policy: PolicySettings, purpose: str
) -> None:
    """Nothing happened after the question: the deadline ends that consent, and nothing else changes."""
    known = history.as_of(PROPERTY_NOW)
    found = select(Candidate(known, "person@example.no"), purpose, policy, PROPERTY_NOW)
    if not isinstance(found, Ask):
        return
    asked = AskedMember(known.contact_id, purpose, found.grant_id, PROPERTY_NOW, deadline(PROPERTY_NOW, 30))
    later = asked.deadline_at + timedelta(days=1)
    assert expiry(asked, known, PROPERTY_NOW) is Expiry.WAITING
    assert expiry(asked, known, later) is Expiry.END_STALE
    after = replace(known, consent_events=(*known.consent_events, _lapse(purpose, asked.deadline_at)))
    before_decisions = decide(known, policy, later)
    after_decisions = decide(after, policy, later)
    for old, new in zip(before_decisions.marketing, after_decisions.marketing, strict=True):
        if (old.purpose, old.channel) == (purpose, Channel.EMAIL):
            assert new.basis is not Basis.CONSENT
        else:
            assert (old.allowed, old.basis, old.rule, old.reason) == (
                new.allowed,
                new.basis,
                new.rule,
                new.reason,
            )


@EXAMPLES
@given(histories(), st.sampled_from(SETTINGS), st.sampled_from(("newsletter", "offers", "partner_offers")))
def test_a_consent_given_or_withdrawn_after_the_question_is_never_ended(
    history: ContactFacts, policy: PolicySettings, purpose: str
) -> None:
    """Whatever the person did after being asked (``history`` runs past the question), the deadline ends
    the stale consent only if it is still the one standing."""
    found = select(Candidate(history, "person@example.no"), purpose, policy, PROPERTY_NOW)
    if not isinstance(found, Ask):
        return
    asked = AskedMember(history.contact_id, purpose, found.grant_id, PROPERTY_NOW, deadline(PROPERTY_NOW, 30))
    later = asked.deadline_at + timedelta(days=1)
    state = fold(history.consent_events).get((purpose, Channel.EMAIL))
    outcome = expiry(asked, history, later)
    if state is None or state.grant is None:
        assert outcome is Expiry.GONE
    elif state.grant.id != found.grant_id and state.grant.occurred_at > PROPERTY_NOW:
        assert outcome is Expiry.SUPERSEDED
    else:
        assert outcome is Expiry.END_STALE


@EXAMPLES
@given(histories(), st.sampled_from(SETTINGS))
def test_a_plan_is_a_function_of_its_candidates(history: ContactFacts, policy: PolicySettings) -> None:
    candidates = [
        Candidate(replace(history, contact_id=f"c{i}"), f"p{i}@example.no", status)
        for i, status in enumerate((None, MemberStatus.SUBSCRIBED, MemberStatus.UNSUBSCRIBED))
    ]
    plan = plan_repermission("c", "newsletter", candidates, policy, PROPERTY_NOW)
    again = plan_repermission("c", "newsletter", reversed(candidates), policy, PROPERTY_NOW)
    assert plan == again
    assert len(plan.asked) + len(plan.left_out) + plan.not_concerned == 3
    assert not {a.contact_id for a in plan.asked} & {x.contact_id for x in plan.left_out}


# --- examples --------------------------------------------------------------------------------------------


def _one(
    *records: object, status: MemberStatus | None = None, asked_in: str | None = None, **kw: object
) -> str:
    policy = kw.pop("policy", PolicySettings())
    assert isinstance(policy, PolicySettings)
    contact = facts(*records, **kw)  # type: ignore[arg-type]
    return _pick(
        select(Candidate(contact, "p@example.no", status, asked_in=asked_in), "newsletter", policy, NOW)
    )


def test_who_is_asked_and_why() -> None:
    assert _one(grant(at=day(-400), notice_version=NOTICE_UNKNOWN)) == AskReason.LEGACY
    assert _one(form_grant(at=day(-3))) == AskReason.UNCONFIRMED
    old = grant(at=day(-800))
    assert _one(old, policy=PolicySettings(consent_max_age_days=730)) == AskReason.STALE
    assert _one(old) == LeftOutReason.CURRENT  # no age limit: an old consent is as good as a new one
    given = form_grant(at=day(-3))
    assert _one(given, confirmation(given, at=day(-2))) == LeftOutReason.CURRENT


def test_who_is_never_asked() -> None:
    legacy = grant(at=day(-400), notice_version=NOTICE_UNKNOWN)
    assert _one(legacy, objection(at=day(-1))) == LeftOutReason.OBJECTED
    assert _one(legacy, objection(at=day(-500), purpose="newsletter")) == LeftOutReason.OBJECTED
    assert _one(legacy, objection(at=day(-1), purpose="offers")) == AskReason.LEGACY  # another purpose
    assert _one(legacy, withdrawal(at=day(-1))) == LeftOutReason.WITHDRAWN
    assert _one(legacy, suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1))) == LeftOutReason.SUPPRESSED
    assert _one(legacy, suppression(SuppressionReason.CLEANED, at=day(-1))) == LeftOutReason.SUPPRESSED
    assert _one(legacy, erased=True) == LeftOutReason.ERASED
    assert _one(legacy, processing_restricted=True) == LeftOutReason.RESTRICTED
    assert _one(legacy, has_email=False) == LeftOutReason.NO_EMAIL
    assert _one(legacy, status=MemberStatus.UNSUBSCRIBED) == LeftOutReason.OPTED_OUT_IN_MAILCHIMP
    assert _one(legacy, status=MemberStatus.CLEANED) == LeftOutReason.OPTED_OUT_IN_MAILCHIMP
    assert _one(legacy, asked_in="earlier") == LeftOutReason.ALREADY_ASKED
    assert _one() == "none"  # no consent for the purpose: nothing to ask about
    lapsed = _lapse("newsletter", day(-1))
    assert _one(legacy, lapsed) == LeftOutReason.WITHDRAWN  # not re-confirmed last time: not asked again


def test_a_newer_consent_or_a_withdrawal_is_never_ended_by_the_deadline() -> None:
    stale = grant(at=day(-400), notice_version=NOTICE_UNKNOWN)
    asked = AskedMember("contact-1", "newsletter", stale.id, NOW, deadline(NOW, 30))
    after = asked.deadline_at + timedelta(hours=1)
    assert expiry(asked, facts(stale), day(29)) is Expiry.WAITING
    assert expiry(asked, facts(stale), after) is Expiry.END_STALE
    fresh = grant(at=day(5), notice_version="shop-v2")
    assert expiry(asked, facts(stale, fresh), after) is Expiry.SUPERSEDED
    assert expiry(asked, facts(stale, withdrawal(at=day(3))), after) is Expiry.GONE


def _member(email: str, status: MemberStatus) -> RemoteMember:
    return RemoteMember(subscriber_hash(email), email, status, (), frozenset({"cs:newsletter"}), NOW)


def test_the_planner_leaves_a_held_pending_member_alone() -> None:
    mapping = AudienceMapping(name="main", purposes=("newsletter",))
    email = "held@example.no"
    nothing = decide(facts(), PolicySettings(), NOW)  # no entitlement: it would lose its tags, be archived
    want = build(ContactProfile("contact-1", email, {}), nothing, mapping)
    key = want.subscriber_hash
    mirror = {key: _member(email, MemberStatus.PENDING)}
    assert diff({key: want}, mirror, mapping, frozenset({key})).operations  # not held: tags off, archived
    assert not diff({key: want}, mirror, mapping, frozenset({key}), held=frozenset({key})).operations
    subscribed = {key: _member(email, MemberStatus.SUBSCRIBED)}  # answered already: no longer held
    assert diff({key: want}, subscribed, mapping, frozenset({key}), held=frozenset({key})).operations
    opted_out = decide(facts(withdrawal(at=day(-1))), PolicySettings(), NOW)
    leaving = build(ContactProfile("contact-1", email, {}), opted_out, mapping)
    assert diff({key: leaving}, mirror, mapping, frozenset({key}), held=frozenset({key})).operations
