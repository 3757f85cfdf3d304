"""Properties of the planner: plans converge, are minimal and deterministic, never market without a basis,
and never undo an opt-out."""

import math
import random
from datetime import UTC, datetime

from hypothesis import given, settings
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
    marketing = tuple(
        Decision(
            p, Channel.EMAIL, p in allowed, basis if p in allowed else Basis.NONE, Rule.P2_CONSENT, "test"
        )
        for p in PURPOSES
    )
    return Entitlement(contact_id, NOW, marketing, TransactionalDecision(transactional, "test"))


@st.composite
def contact_states(draw: st.DrawFn, index: int) -> tuple[DesiredMember, RemoteMember | None, bool]:
    email = f"person{index}@firma.no"
    allowed = frozenset(draw(st.sets(st.sampled_from(PURPOSES))))
    basis = draw(st.sampled_from([Basis.CONSENT, Basis.EXISTING_CUSTOMER]))
    transactional = draw(st.booleans())
    name = draw(st.sampled_from(["Kari", "Ola", None]))
    mapping = draw(st.sampled_from([SEGMENTS, STRICT]))
    profile = ContactProfile(f"c{index}", email, {"first_name": name, "last_name": None})
    want = build(profile, entitlement(f"c{index}", allowed, basis, transactional), mapping)
    have = draw(st.none() | remote_members(email))
    return want, have, draw(st.booleans())


@st.composite
def remote_members(draw: st.DrawFn, email: str) -> RemoteMember:
    status = draw(st.sampled_from(list(MemberStatus)))
    owned = draw(
        st.sets(st.sampled_from([*(f"cs:{p}" for p in PURPOSES), "cs:transactional", "cs:basis-consent"]))
    )
    foreign = draw(st.sets(st.sampled_from(["VIP", "imported-2024"])))
    return RemoteMember(
        subscriber_hash=subscriber_hash(email),
        email=email,
        status=status,
        merge_fields=merge_fields_of({"FNAME": draw(st.sampled_from(["Kari", "", "Old"])), "LNAME": ""}),
        tags=frozenset(owned | foreign),
        last_changed=NOW,
        in_compliance_state=status in OPTED_OUT,
        status_before_archive=draw(st.sampled_from(list(MemberStatus)))
        if status is MemberStatus.ARCHIVED
        else None,
    )


@st.composite
def audiences(
    draw: st.DrawFn,
) -> tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping]:
    mapping = draw(st.sampled_from([SEGMENTS, STRICT]))
    size = draw(st.integers(min_value=0, max_value=12))
    desired: dict[str, DesiredMember] = {}
    mirror: dict[str, RemoteMember] = {}
    managed: set[str] = set()
    for index in range(size):
        want, have, ours = draw(contact_states(index))
        want = (
            build(
                ContactProfile(want.contact_id, want.email, {"first_name": None, "last_name": None}),
                entitlement(want.contact_id, want.marketing_purposes, Basis.CONSENT, want.transactional),
                mapping,
            )
            if draw(st.booleans())
            else _with_mapping(want, mapping)
        )
        desired[want.subscriber_hash] = want
        if have is not None:
            mirror[have.subscriber_hash] = have
        if ours:
            managed.add(want.subscriber_hash)
    return desired, mirror, frozenset(managed), mapping


def _with_mapping(want: DesiredMember, mapping: AudienceMapping) -> DesiredMember:
    profile = ContactProfile(want.contact_id, want.email, {"first_name": None, "last_name": None})
    return build(
        profile,
        entitlement(want.contact_id, want.marketing_purposes, Basis.CONSENT, want.transactional),
        mapping,
    )


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_plans_converge(
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
    desired, mirror, managed, mapping = audience
    after = simulate(diff(desired, mirror, mapping, managed), mirror, NOW)
    assert diff(desired, after, mapping, managed).operations == ()


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_plans_are_deterministic(
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
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
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
    desired, mirror, managed, mapping = audience
    plan = diff(desired, mirror, mapping, managed)
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
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
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
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
    desired, mirror, managed, mapping = audience
    for op in diff(desired, mirror, mapping, managed).operations:
        if isinstance(op, UpsertMember):
            assert op.creates == (op.subscriber_hash not in mirror)


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_new_members_tags_cost_no_tag_call(
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
    """From an empty mirror every tag rides in its member's batch subscribe entry."""
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
