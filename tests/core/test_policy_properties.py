"""Properties of the policy over random histories (docs/guarantees.md 1–4).

Histories are drawn over three weeks with coarse times (whole days at midnight or noon; suppressions on
one of three days) so that records often share an instant, and ``now`` sits in the middle so that some
records lie in the future.
"""

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from hypothesis import event, given, settings
from hypothesis import strategies as st

from connector.core.consent import ConsentState, fold, is_act_of_consent
from connector.core.desired import AudienceMapping, ContactProfile, build
from connector.core.model import (
    Basis,
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
    Decision,
    Objection,
    RecordKind,
    Relationship,
    RelationshipKind,
    Rule,
    Suppression,
    SuppressionReason,
)
from connector.core.plan import diff
from connector.core.policy import decide, needs_confirmation, review_at
from connector.core.policy_settings import FollowUpSettings, PolicySettings, SoftOptInSettings
from connector.core.remote import MemberStatus, RemoteMember
from connector.core.wording import explanation
from tests.core import consent_reference, policy_reference

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = START + timedelta(days=10, hours=6)
PURPOSES = ("newsletter", "offers", "partner_offers", "unconfigured")
_T = TypeVar("_T")
EXAMPLES = settings(max_examples=200, deadline=None)

SETTINGS = (
    PolicySettings(),
    PolicySettings(require_double_opt_in=False),
    PolicySettings(
        consent_max_age_days=5,
        follow_up=FollowUpSettings(purchase=3, subscription=2, account=1),
        soft_opt_in=SoftOptInSettings(min_order_value=Decimal(100)),
        double_opt_in_methods=(ConsentMethod.FORM, ConsentMethod.IMPORT),
    ),
    PolicySettings(legacy_consents="refuse"),
    PolicySettings(legacy_consents=f"accept-until {(START + timedelta(days=8)).date().isoformat()}"),
)

moments = st.builds(
    lambda days, hours: START + timedelta(days=days, hours=hours),
    st.integers(min_value=0, max_value=20),
    st.sampled_from((0, 12)),
)
channels = st.sampled_from(tuple(Channel))
policy_settings = st.sampled_from(SETTINGS)


@st.composite
def consent_events(draw: st.DrawFn, index: int) -> ConsentEvent:
    return ConsentEvent(
        id=f"consent-{index:02d}",
        purpose=draw(st.sampled_from(PURPOSES)),
        channel=draw(channels),
        action=draw(st.sampled_from(tuple(ConsentAction))),
        occurred_at=draw(moments),
        method=draw(st.sampled_from(tuple(ConsentMethod))),
        source=draw(st.sampled_from(("shop", "consent-form", "mailchimp-webhook", ""))),
        notice_version=draw(st.sampled_from(("notice-3", "notice-4", "unknown", None))),
        active_act=draw(st.booleans()),
    )


@st.composite
def relationships(draw: st.DrawFn, index: int) -> Relationship:
    started = draw(moments)
    later = st.builds(lambda days: started + timedelta(days=days), st.integers(0, 12))
    return Relationship(
        id=f"relationship-{index:02d}",
        kind=draw(st.sampled_from(tuple(RelationshipKind))),
        started_at=started,
        reference=f"R{index}",
        categories=frozenset(draw(st.sets(st.sampled_from(("trips", "shoes")), max_size=2))),
        service_date=draw(st.none() | later),
        ended_at=draw(st.none() | later),
        opt_out_offered=draw(st.booleans()),
        order_value=draw(st.sampled_from((None, Decimal(0), Decimal(99), Decimal(100), Decimal(2500)))),
    )


@st.composite
def objections(draw: st.DrawFn, index: int) -> Objection:
    return Objection(
        id=f"objection-{index:02d}",
        occurred_at=draw(moments),
        source=draw(st.sampled_from(("admin-api", "mailchimp-webhook"))),
        purpose=draw(st.none() | st.sampled_from(PURPOSES)),
        channel=draw(st.none() | channels),
    )


suppressions = st.builds(
    Suppression,
    address_hash=st.sampled_from(("aa" * 32, "bb" * 32)),
    reason=st.sampled_from(tuple(SuppressionReason)),
    created_at=st.sampled_from(tuple(START + timedelta(days=d) for d in (2, 5, 14))),
    source=st.just("mailchimp-webhook"),
)


def _numbered(
    build: Callable[[int], st.SearchStrategy[_T]], max_size: int, min_size: int = 0
) -> st.SearchStrategy[tuple[_T, ...]]:
    """Up to ``max_size`` records, the i-th built with id number i (ids are unique, times are not)."""
    return st.integers(min_value=min_size, max_value=max_size).flatmap(
        lambda size: st.tuples(*(build(i) for i in range(size)))
    )


rarely = st.sampled_from((False, False, False, False, True))

contact_facts = st.builds(
    ContactFacts,
    contact_id=st.just("contact-1"),
    has_email=st.sampled_from((True, True, True, False)),
    has_phone=st.booleans(),
    erased=rarely,
    processing_restricted=rarely,
    consent_events=_numbered(consent_events, 10),
    relationships=_numbered(relationships, 3),
    objections=_numbered(objections, 2),
    suppressions=st.lists(suppressions, max_size=3).map(tuple),
)


CONFIGURED = (
    ("newsletter", Channel.EMAIL),
    ("offers", Channel.EMAIL),
    ("offers", Channel.SMS),
    ("partner_offers", Channel.EMAIL),
)
"""Purpose × channel pairs every entry of SETTINGS decides (the defaults)."""
HALF_DAY = timedelta(hours=12)
GRANT_OFFSETS = (1, 2, 3, 4, 1, 2, 3, 1, 0, -1)
"""Half days from the story's opt-out to its grant: mostly after, sometimes the same instant or before
(first the cases the property's assertions are about: hypothesis starts from the first choices)."""
LAST_GRANT = START + timedelta(days=10)
"""The last grid instant before NOW: the story's grant and confirmation are known at NOW."""


@st.composite
def opt_out_stories(draw: st.DrawFn) -> ContactFacts:
    """A random history plus the story the opt-out property is about: an opt-out of one purpose × channel
    (a withdrawal, an objection or a suppression), then mostly a valid, confirmed consent to it again,
    strictly later — sometimes at the same instant or before, where the opt-out must win.

    The opt-out falls on days 6–9 so that the grant after it is young enough for every SETTINGS
    entry's maximum consent age. The rest of the history is as random as ``contact_facts``, but for
    opt-outs of the story's purpose × channel after the story's own (those would decide most examples
    before the story could): earlier ones stay, so the grant must be newer than the latest of several.
    The person is reachable on the story's channel (erasure and restriction are ``contact_facts``'s).
    """
    purpose, channel = draw(st.sampled_from(CONFIGURED))
    opted_out_at = START + timedelta(days=draw(st.integers(6, 9))) + HALF_DAY * draw(st.integers(0, 1))
    facts = _story_is_the_last_opt_out(draw(contact_facts), purpose, channel, opted_out_at)
    granted_at = min(opted_out_at + HALF_DAY * draw(st.sampled_from(GRANT_OFFSETS)), LAST_GRANT)
    confirmed_at = min(granted_at + HALF_DAY * draw(st.integers(0, 2)), LAST_GRANT)
    method = draw(st.sampled_from(tuple(ConsentMethod)))
    story = [
        _story_event("story-grant", purpose, channel, ConsentAction.GIVEN, granted_at, method),
        _story_event("story-confirmation", purpose, channel, ConsentAction.CONFIRMED, confirmed_at, method),
    ]
    kinds = (
        ("withdrawal", "objection", "suppression")
        if channel is Channel.EMAIL
        else ("withdrawal", "objection")
    )
    kind = draw(st.sampled_from(kinds))
    objections, suppressions = facts.objections, facts.suppressions
    if kind == "withdrawal":
        story.append(
            _story_event("story-withdrawal", purpose, channel, ConsentAction.WITHDRAWN, opted_out_at, method)
        )
    elif kind == "objection":
        scope = (draw(st.none() | st.just(purpose)), draw(st.none() | st.just(channel)))
        objections += (Objection("story-objection", opted_out_at, "admin-api", *scope),)
    else:
        reason = draw(st.sampled_from(tuple(SuppressionReason)))
        suppressions += (Suppression("cc" * 32, reason, opted_out_at, "mailchimp-webhook"),)
    return replace(
        facts,
        has_email=facts.has_email or channel is Channel.EMAIL,
        has_phone=facts.has_phone or channel is Channel.SMS,
        erased=False,
        processing_restricted=False,
        consent_events=facts.consent_events + tuple(story),
        objections=objections,
        suppressions=suppressions,
    )


def _story_is_the_last_opt_out(
    facts: ContactFacts, purpose: str, channel: Channel, opted_out_at: datetime
) -> ContactFacts:
    """``facts`` without the opt-outs of ``purpose`` × ``channel`` dated after ``opted_out_at``."""

    def later_opt_out(event: ConsentEvent) -> bool:
        same = (event.purpose, event.channel) == (purpose, channel)
        return same and event.action is ConsentAction.WITHDRAWN and event.occurred_at > opted_out_at

    return replace(
        facts,
        consent_events=tuple(e for e in facts.consent_events if not later_opt_out(e)),
        objections=tuple(
            o for o in facts.objections if not (o.covers(purpose, channel) and o.occurred_at > opted_out_at)
        ),
        suppressions=tuple(
            s for s in facts.suppressions if channel is not Channel.EMAIL or s.created_at <= opted_out_at
        ),
    )


@st.composite
def customer_histories(draw: st.DrawFn) -> ContactFacts:
    """A random history plus a current relationship that offered a free opt-out (soft opt-in, P3)."""
    facts = draw(contact_facts)
    started_at = START + timedelta(days=draw(st.integers(5, 10)))
    customer = Relationship(
        id="story-relationship",
        kind=draw(st.sampled_from(tuple(RelationshipKind))),
        started_at=started_at,
        reference="R-story",
        categories=frozenset(draw(st.sets(st.sampled_from(("trips", "shoes")), max_size=2))),
        service_date=draw(st.none() | st.just(started_at)),
        ended_at=None,
        opt_out_offered=True,
        order_value=Decimal(2500),
    )
    return replace(
        facts,
        has_email=True,
        erased=False,
        processing_restricted=False,
        relationships=(*facts.relationships, customer),
    )


def _story_or_not(story: bool) -> st.SearchStrategy[ContactFacts]:
    return opt_out_stories() if story else contact_facts


def _story_event(
    id_: str, purpose: str, channel: Channel, action: ConsentAction, at: datetime, method: ConsentMethod
) -> ConsentEvent:
    return ConsentEvent(
        id=id_,
        purpose=purpose,
        channel=channel,
        action=action,
        occurred_at=at,
        method=method,
        source="consent-form",
        notice_version="notice-4",
        active_act=True,
    )


def _without_opt_outs(facts: ContactFacts) -> ContactFacts:
    return replace(
        facts,
        consent_events=tuple(e for e in facts.consent_events if e.action is not ConsentAction.WITHDRAWN),
        objections=(),
        suppressions=(),
    )


def _opt_out_moments(facts: ContactFacts, purpose: str, channel: Channel, now: datetime) -> list[datetime]:
    """When each opt-out covering purpose × channel happened, of those known at ``now``."""
    moments_ = [
        e.occurred_at
        for e in facts.consent_events
        if e.action is ConsentAction.WITHDRAWN and (e.purpose, e.channel) == (purpose, channel)
    ]
    moments_ += [o.occurred_at for o in facts.objections if o.covers(purpose, channel)]
    if channel is Channel.EMAIL:
        moments_ += [s.created_at for s in facts.suppressions]
    return [m for m in moments_ if m <= now]


def _events_named(facts: ContactFacts, decision: Decision) -> list[ConsentEvent]:
    ids = {r.id for r in decision.records if r.kind is RecordKind.CONSENT}
    return [e for e in facts.consent_events if e.id in ids]


def _grant_of(facts: ContactFacts, decision: Decision) -> ConsentEvent:
    grants = [e for e in _events_named(facts, decision) if e.action is ConsentAction.GIVEN]
    assert len(grants) == 1, decision
    return grants[0]


def _assert_valid_grant(facts: ContactFacts, decision: Decision, policy: PolicySettings) -> None:
    grant = _grant_of(facts, decision)
    assert is_act_of_consent(grant)
    assert (grant.purpose, grant.channel) == (decision.purpose, decision.channel)
    assert grant.occurred_at <= NOW
    if needs_confirmation(grant, policy):
        confirmations = [e for e in _events_named(facts, decision) if e.action is ConsentAction.CONFIRMED]
        assert len(confirmations) == 1
        assert grant.occurred_at <= confirmations[0].occurred_at <= NOW
        assert (confirmations[0].purpose, confirmations[0].channel) == (grant.purpose, grant.channel)
    if policy.consent_max_age_days is not None:
        assert grant.occurred_at + timedelta(days=policy.consent_max_age_days) > NOW


def _assert_current_relationship(facts: ContactFacts, decision: Decision, policy: PolicySettings) -> None:
    purpose = policy.purpose(decision.purpose)
    assert purpose is not None
    assert purpose.similar_products
    (ref,) = decision.records
    assert ref.kind is RecordKind.RELATIONSHIP
    (relationship,) = [r for r in facts.relationships if r.id == ref.id]
    assert relationship.started_at <= NOW
    assert relationship.opt_out_offered
    assert purpose.is_similar_to(relationship.categories)
    assert decision.valid_until is None or decision.valid_until > NOW


@EXAMPLES
@given(facts=contact_facts, data=st.data())
def test_fold_does_not_depend_on_arrival_order(facts: ContactFacts, data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(facts.consent_events))

    assert fold(shuffled) == fold(facts.consent_events)


DENSE_ACTIONS = (ConsentAction.GIVEN, ConsentAction.CONFIRMED) * 3 + (ConsentAction.WITHDRAWN,)


@st.composite
def dense_consent_events(draw: st.DrawFn, index: int) -> ConsentEvent:
    """Events crowded onto two purposes, one channel and six instants: ties, repeat sign-ups,
    confirmations before and after grants, withdrawals between them, grants without evidence."""
    return ConsentEvent(
        id=f"dense-{index:02d}",
        purpose=draw(st.sampled_from(("newsletter", "offers"))),
        channel=Channel.EMAIL,
        action=draw(st.sampled_from(DENSE_ACTIONS)),
        occurred_at=START + timedelta(days=draw(st.integers(0, 5))),
        method=ConsentMethod.FORM,
        source=draw(st.sampled_from(("consent-form",) * 5 + ("",))),
        notice_version=draw(st.sampled_from(("notice-4",) * 5 + (None,))),
        active_act=draw(st.sampled_from((True,) * 5 + (False,))),
    )


def _dense_or_random_events(dense: bool) -> st.SearchStrategy[tuple[ConsentEvent, ...]]:
    return (
        _numbered(dense_consent_events, 12, min_size=4)
        if dense
        else contact_facts.map(lambda f: f.consent_events)
    )


@settings(max_examples=400, deadline=None)
@given(events=st.sampled_from((True, True, True, False)).flatmap(_dense_or_random_events))
def test_fold_equals_the_reference_fold(events: tuple[ConsentEvent, ...]) -> None:
    folded = fold(events)
    assert folded == consent_reference.fold(events)
    states = folded.values()
    event(f"a grant stands: {any(s.grant is not None for s in states)}")
    event(f"an earlier confirmed grant outlives a newer unconfirmed one: {any(map(_earlier_stands, states))}")
    event(f"a withdrawal, then a newer grant: {any(s.withdrawal and s.grant for s in states)}")
    event(f"a grant that is no act of consent: {any(s.not_consent for s in states)}")


def _earlier_stands(state: ConsentState) -> bool:
    return state.confirmed is not None and state.confirmed[0] is not state.grant


@EXAMPLES
@given(facts=contact_facts, policy=policy_settings, data=st.data())
def test_decision_does_not_depend_on_arrival_order(
    facts: ContactFacts, policy: PolicySettings, data: st.DataObject
) -> None:
    shuffled = replace(
        facts,
        consent_events=tuple(data.draw(st.permutations(facts.consent_events))),
        relationships=tuple(data.draw(st.permutations(facts.relationships))),
        objections=tuple(data.draw(st.permutations(facts.objections))),
        suppressions=tuple(data.draw(st.permutations(facts.suppressions))),
    )

    assert decide(shuffled, policy, NOW) == decide(facts, policy, NOW)


@EXAMPLES
@given(facts=st.one_of(opt_out_stories(), customer_histories(), contact_facts), policy=policy_settings)
def test_no_allow_without_a_basis(facts: ContactFacts, policy: PolicySettings) -> None:
    """Histories with a consent story or a current customer relationship (two in three) make allowed
    decisions common; every decision, allowed or not, is checked."""
    decisions = decide(facts, policy, NOW).marketing
    for basis in (Basis.CONSENT, Basis.EXISTING_CUSTOMER):
        event(
            f"a decision allowed on {basis.value}: {any(d.allowed and d.basis is basis for d in decisions)}"
        )
    event(f"a decision allowed (the basis assertions reached): {any(d.allowed for d in decisions)}")
    for decision in decisions:
        if not decision.allowed:
            assert decision.basis is Basis.NONE
            assert decision.rule in (Rule.P0_HARD_STOP, Rule.P1_NO_BASIS)
            continue
        assert not facts.erased
        assert not facts.processing_restricted
        assert facts.has_email if decision.channel is Channel.EMAIL else facts.has_phone
        if decision.basis is Basis.CONSENT:
            assert decision.rule is Rule.P2_CONSENT
            _assert_valid_grant(facts, decision, policy)
        else:
            assert decision.basis is Basis.EXISTING_CUSTOMER
            assert decision.rule is Rule.P3_SOFT_OPT_IN
            _assert_current_relationship(facts, decision, policy)


@EXAMPLES
@given(
    facts=st.one_of(opt_out_stories(), opt_out_stories(), opt_out_stories(), contact_facts),
    policy=policy_settings,
)
def test_no_allow_after_an_opt_out_unless_a_strictly_newer_valid_consent(
    facts: ContactFacts, policy: PolicySettings
) -> None:
    """Nine examples in ten carry an opt-out story (``opt_out_stories``); the hypothesis statistics
    show how often a decision is allowed after an opt-out, the case the assertions are about."""
    reached = False
    for decision in decide(facts, policy, NOW).marketing:
        opted_out = _opt_out_moments(facts, decision.purpose, decision.channel, NOW)
        if not decision.allowed or not opted_out:
            continue
        reached = True
        assert decision.basis is Basis.CONSENT
        _assert_valid_grant(facts, decision, policy)
        assert _grant_of(facts, decision).occurred_at > max(opted_out)
    event(f"allowed after an opt-out (assertions reached): {reached}")


@EXAMPLES
@given(facts=contact_facts, policy=policy_settings, moment=moments)
def test_explaining_at_a_date_equals_deciding_from_the_history_up_to_it(
    facts: ContactFacts, policy: PolicySettings, moment: datetime
) -> None:
    from_history = decide(facts.as_of(moment), policy, moment)
    explained = decide(facts, policy, moment)

    assert explained == from_history
    assert explanation(explained, policy) == explanation(from_history, policy)


@settings(max_examples=500, deadline=None)
@given(facts=contact_facts, policy=policy_settings, moment=moments)
def test_decisions_and_their_words_equal_the_reference_policy(
    facts: ContactFacts, policy: PolicySettings, moment: datetime
) -> None:
    """Reasons worded when read and shared decision values change no decision and no word."""
    decided = decide(facts, policy, moment)
    reference = policy_reference.decide(facts, policy, moment)

    assert decided == reference
    assert [d.reason for d in decided.marketing] == [d.reason for d in reference.marketing]
    assert decided.transactional.reason == reference.transactional.reason
    assert explanation(decided, policy) == explanation(reference, policy)
    assert review_at(facts, decided) == policy_reference.review_at(facts, reference)


@EXAMPLES
@given(facts=contact_facts, policy=policy_settings, moment=moments)
def test_deciding_building_and_diffing_leave_no_reference_cycles(
    facts: ContactFacts, policy: PolicySettings, moment: datetime
) -> None:
    """A sync plans with the cyclic collector paused (``connector/collector.py``): reference counting
    alone must free whatever planning drops.

    The collector looks only at what this example makes (:func:`_only_what_is_made_here`): a full
    collection of the test process's heap took about half a second, twice per example. It runs
    nowhere else in the example either, so no automatic collection can free a cycle before it is
    counted."""
    with _only_what_is_made_here():
        mapping = AudienceMapping(name="main", purposes=("newsletter", "offers"))
        profile = ContactProfile("contact-1", "kari@firma.no", {"first_name": "Kari"})
        entitlement = decide(facts, policy, moment)
        member = build(profile, entitlement, mapping)
        stale = RemoteMember(
            member.subscriber_hash, member.email, MemberStatus.SUBSCRIBED, (), frozenset(), moment
        )
        plans = [
            diff({member.subscriber_hash: member}, mirror, mapping)
            for mirror in ({}, {stale.subscriber_hash: stale})
        ]
        explained = explanation(entitlement, policy)
        del entitlement, member, stale, plans, explained

        assert gc.collect() == 0


@contextmanager
def _only_what_is_made_here() -> Iterator[None]:
    """Inside, a collection examines only objects made inside (everything older is frozen, garbage
    included), and none runs unless asked for."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


@EXAMPLES
@given(facts=contact_facts, policy=policy_settings, moment=moments)
def test_transactional_is_identical_with_and_without_opt_outs(
    facts: ContactFacts, policy: PolicySettings, moment: datetime
) -> None:
    with_opt_outs = decide(facts, policy, moment).transactional
    without = decide(_without_opt_outs(facts), policy, moment).transactional

    assert with_opt_outs == without


def _one_future_record(facts: ContactFacts, keep: int) -> ContactFacts:
    """The history up to NOW plus only the ``keep``-th record dated after NOW (if there is one)."""
    future: list[object] = [e for e in facts.consent_events if e.occurred_at > NOW]
    future += [r for r in facts.relationships if r.started_at > NOW]
    future += [o for o in facts.objections if o.occurred_at > NOW]
    future += [s for s in facts.suppressions if s.created_at > NOW]
    kept = future[keep % len(future)] if future else None

    def known(record: object, when: datetime) -> bool:
        return when <= NOW or record is kept

    return replace(
        facts,
        consent_events=tuple(e for e in facts.consent_events if known(e, e.occurred_at)),
        relationships=tuple(r for r in facts.relationships if known(r, r.started_at)),
        objections=tuple(o for o in facts.objections if known(o, o.occurred_at)),
        suppressions=tuple(s for s in facts.suppressions if known(s, s.created_at)),
    )


# Every record time, window end and expiry falls on this grid, so checking it sees every change.
GRID = tuple(START + timedelta(hours=12 * step) for step in range(2 * 40))


@EXAMPLES
@given(facts=contact_facts, keep=st.integers(min_value=0, max_value=20), policy=policy_settings)
def test_answer_holds_until_the_review_moment(facts: ContactFacts, keep: int, policy: PolicySettings) -> None:
    facts = _one_future_record(facts, keep)
    now = decide(facts, policy, NOW)
    review = review_at(facts, now)

    for moment in GRID:
        if moment >= NOW and (review is None or moment < review):
            later = decide(facts, policy, moment)
            assert later.allowed_purposes == now.allowed_purposes, moment
            assert later.transactional.allowed == now.transactional.allowed, moment
