"""Properties of the planner: plans converge, are minimal and deterministic, never market without a basis,
and never undo an opt-out."""

import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from connector.core import safety
from connector.core.desired import AudienceMapping, ContactProfile, DesiredMember, build
from connector.core.model import Basis, Channel, Decision, Entitlement, Rule, TransactionalDecision
from connector.core.plan import (
    BATCH_LIMIT,
    OPTED_OUT,
    AddTags,
    Plan,
    RemoveTags,
    UpsertMember,
    diff,
    estimate_calls,
)
from connector.core.remote import MemberStatus, RemoteMember, merge_fields_of, subscriber_hash
from tests.core.plan_model import outcome_of, simulate

NOW = datetime(2026, 11, 23, tzinfo=UTC)
PURPOSES = ("newsletter", "offers", "partner_offers")
SEGMENTS = AudienceMapping(name="main", purposes=PURPOSES)
STRICT = AudienceMapping(name="main", purposes=PURPOSES, mode="strict")


def entitlement(contact_id: str, allowed: frozenset[str], basis: Basis, transactional: bool) -> Entitlement:
    return entitlement_by_purpose(contact_id, dict.fromkeys(allowed, basis), transactional)


def entitlement_by_purpose(contact_id: str, bases: Mapping[str, Basis], transactional: bool) -> Entitlement:
    """Marketing allowed for the purposes in ``bases``, each on its own basis."""
    marketing = tuple(
        Decision(p, Channel.EMAIL, p in bases, bases.get(p, Basis.NONE), Rule.P2_CONSENT, "test")
        for p in PURPOSES
    )
    return Entitlement(contact_id, NOW, marketing, TransactionalDecision(transactional, "test"))


FIRST_NAMES = ("Kari", "Ola", None)
LAST_NAMES = ("Nordmann", None)
REMOTE_FIRST_NAMES = ("Kari", "Ola", "Old", "")
REMOTE_LAST_NAMES = ("Nordmann", "")
OWNED_TAGS = (
    *(f"cs:{p}" for p in PURPOSES),
    "cs:transactional",
    "cs:basis-consent",
    "cs:basis-customer",
)


@st.composite
def contact_states(
    draw: st.DrawFn, index: int, mapping: AudienceMapping
) -> tuple[DesiredMember, RemoteMember | None, bool]:
    """One contact: what it should be in ``mapping``'s audience, what Mailchimp holds, whether it is ours.

    Each allowed purpose draws its own basis (consent or existing customer, so both basis tags occur,
    alone and together), and the names drawn reach the desired member's merge fields.
    """
    email = f"person{index}@firma.no"
    bases = draw(
        st.dictionaries(st.sampled_from(PURPOSES), st.sampled_from([Basis.CONSENT, Basis.EXISTING_CUSTOMER]))
    )
    transactional = draw(st.booleans())
    names = {"first_name": draw(st.sampled_from(FIRST_NAMES)), "last_name": draw(st.sampled_from(LAST_NAMES))}
    profile = ContactProfile(f"c{index}", email, names)
    want = build(profile, entitlement_by_purpose(f"c{index}", bases, transactional), mapping)
    have = draw(st.none() | remote_members(email))
    return want, have, draw(st.booleans())


@st.composite
def remote_members(draw: st.DrawFn, email: str) -> RemoteMember:
    status = draw(st.sampled_from(list(MemberStatus)))
    owned = draw(st.sets(st.sampled_from(OWNED_TAGS)))
    foreign = draw(st.sets(st.sampled_from(["VIP", "imported-2024"])))
    merge_fields = {
        "FNAME": draw(st.sampled_from(REMOTE_FIRST_NAMES)),
        "LNAME": draw(st.sampled_from(REMOTE_LAST_NAMES)),
    }
    return RemoteMember(
        subscriber_hash=subscriber_hash(email),
        email=email,
        status=status,
        merge_fields=merge_fields_of(merge_fields),
        tags=frozenset(owned | foreign),
        last_changed=NOW,
        in_compliance_state=status in OPTED_OUT,
        status_before_archive=draw(st.sampled_from(list(MemberStatus)))
        if status is MemberStatus.ARCHIVED
        else None,
    )


Audience = tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping]


@st.composite
def audiences(draw: st.DrawFn) -> Audience:
    mapping = draw(st.sampled_from([SEGMENTS, STRICT]))
    size = draw(st.integers(min_value=0, max_value=12))
    desired: dict[str, DesiredMember] = {}
    mirror: dict[str, RemoteMember] = {}
    managed: set[str] = set()
    for index in range(size):
        want, have, ours = draw(contact_states(index, mapping))
        desired[want.subscriber_hash] = want
        if have is not None:
            mirror[have.subscriber_hash] = have
        if ours:
            managed.add(want.subscriber_hash)
    return desired, mirror, frozenset(managed), mapping


def note_coverage(audience: Audience) -> None:
    """Hypothesis statistics (``--hypothesis-show-statistics``): how often the cases that matter occur."""
    desired, mirror, _, mapping = audience
    tags = frozenset().union(*(want.tags for want in desired.values()))
    for basis in (Basis.CONSENT, Basis.EXISTING_CUSTOMER):
        event(f"desired {mapping.basis_tag(basis)}: {mapping.basis_tag(basis) in tags}")
    renamed = any(
        want.present and want.merge_fields != mirror[key].merge_fields and dict(want.merge_fields)["FNAME"]
        for key, want in desired.items()
        if key in mirror
    )
    event(f"a member is renamed to a non-blank name: {renamed}")
    event(f"an opted-out member is in the mirror: {any(m.status in OPTED_OUT for m in mirror.values())}")


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_plans_converge(
    audience: Audience,
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    after = simulate(diff(desired, mirror, mapping, managed), mirror, NOW)
    assert diff(desired, after, mapping, managed).operations == ()


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_plans_are_deterministic(
    audience: Audience,
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    keys = list(desired)
    random.Random(7).shuffle(keys)
    shuffled = {k: desired[k] for k in keys}
    assert diff(desired, mirror, mapping, managed) == diff(
        shuffled, dict(reversed(mirror.items())), mapping, managed
    )


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_every_operation_changes_something(
    audience: Audience,
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    plan = diff(desired, mirror, mapping, managed)
    event(f"the plan has operations (assertions reached): {bool(plan.operations)}")
    state = dict(mirror)
    for op in plan.operations:
        before = state.get(op.subscriber_hash)
        outcome = outcome_of(op, before, NOW)
        if isinstance(outcome, RemoteMember):
            assert _visible(outcome) != (_visible(before) if before else None), op
            state[op.subscriber_hash] = outcome


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_never_markets_without_a_basis_nor_undoes_an_opt_out(
    audience: Audience,
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    plan = diff(desired, mirror, mapping, managed)
    assert safety.violations(plan, desired, mirror, mapping) == []
    after = simulate(plan, mirror, NOW)
    for key, have in mirror.items():
        if have.status in OPTED_OUT:
            now = after[key]
            assert now.status not in {MemberStatus.SUBSCRIBED, MemberStatus.PENDING}
            assert not (now.tags & mapping.marketing_tags)
    for key, member in after.items():
        want = desired.get(key)
        owned_marketing = member.tags & mapping.marketing_tags
        assert not owned_marketing or (want is not None and owned_marketing <= want.tags)


def test_opt_out_removes_marketing_tags_but_keeps_transactional() -> None:
    email = "per@firma.no"
    profile = ContactProfile("c1", email, {"first_name": "Per", "last_name": None})
    want = build(profile, entitlement("c1", frozenset(), Basis.NONE, True), SEGMENTS)
    have = RemoteMember(
        subscriber_hash(email),
        email,
        MemberStatus.SUBSCRIBED,
        merge_fields_of({"FNAME": "Per", "LNAME": ""}),
        frozenset({"cs:newsletter", "cs:basis-consent", "cs:transactional", "VIP"}),
        NOW,
    )
    plan = diff({want.subscriber_hash: want}, {have.subscriber_hash: have}, SEGMENTS)
    assert plan.operations == (
        RemoveTags(
            have.subscriber_hash,
            email,
            frozenset({"cs:newsletter", "cs:basis-consent"}),
            "entitlement ended or withdrawn",
        ),
    )


def test_safety_refuses_mass_untagging_unless_allowed() -> None:
    desired: dict[str, DesiredMember] = {}
    mirror: dict[str, RemoteMember] = {}
    for index in range(100):
        email = f"p{index}@firma.no"
        want = build(
            ContactProfile(f"c{index}", email, {}),
            entitlement(f"c{index}", frozenset(), Basis.NONE, True),
            SEGMENTS,
        )
        desired[want.subscriber_hash] = want
        mirror[want.subscriber_hash] = RemoteMember(
            want.subscriber_hash,
            email,
            MemberStatus.SUBSCRIBED,
            merge_fields_of({"FNAME": "", "LNAME": ""}),
            frozenset({"cs:newsletter", "cs:basis-consent", "cs:transactional"}),
            NOW,
        )
    plan = diff(desired, mirror, SEGMENTS)
    refused = safety.check(plan, desired, mirror, SEGMENTS, max_fraction=0.1)
    assert not refused.ok
    assert "100 of 100" in refused.message()
    assert safety.check(plan, desired, mirror, SEGMENTS, max_fraction=0.1, allow_destructive=True).ok


def test_safety_flags_a_subscribe_without_basis() -> None:
    email = "x@firma.no"
    plan = Plan(
        "main", (UpsertMember(subscriber_hash(email), email, None, MemberStatus.SUBSCRIBED, (), "bug"),)
    )
    assert safety.violations(plan, {}, {}, SEGMENTS)


def _visible(member: RemoteMember) -> tuple[object, ...]:
    return (member.status, member.tags, member.merge_fields, member.forgotten)


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_an_upsert_creates_exactly_the_members_the_mirror_lacks(
    audience: Audience,
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    operations = diff(desired, mirror, mapping, managed).operations
    event(f"an upsert (assertions reached): {any(isinstance(op, UpsertMember) for op in operations)}")
    for op in operations:
        if isinstance(op, UpsertMember):
            assert op.creates == (op.subscriber_hash not in mirror)


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_new_members_tags_cost_no_tag_call(
    audience: Audience,
) -> None:
    """From an empty mirror every tag rides in its member's batch subscribe entry."""
    note_coverage(audience)
    desired, _, managed, mapping = audience
    plan = diff(desired, {}, mapping, managed)
    upserts = sum(isinstance(op, UpsertMember) for op in plan.operations)
    assert estimate_calls(plan) == math.ceil(upserts / BATCH_LIMIT)
    assert estimate_calls(plan, batch_limit=1) == upserts


def test_tags_added_to_an_existing_member_still_cost_a_tag_call() -> None:
    email = "kari@firma.no"
    key = subscriber_hash(email)
    tags = frozenset({"cs:newsletter"})
    existing = Plan("main", (AddTags(key, email, tags, "entitled"),))
    assert estimate_calls(existing) == 1
    created = Plan(
        "main",
        (
            UpsertMember(key, email, None, MemberStatus.SUBSCRIBED, (), "new", creates=True),
            AddTags(key, email, tags, "entitled"),
        ),
    )
    assert estimate_calls(created) == 1
