"""Property tests: a notice's recipients are exactly the contacts the policy allows transactional
notices for the targeted relationships at send time; withdrawals and objections never remove one;
erasure, a hard bounce or a complaint always does."""

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.model import (
    ContactFacts,
    Objection,
    Relationship,
    RelationshipKind,
    Suppression,
    SuppressionReason,
)
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.core.notices import NoticeCandidate, Route, RouteSettings, plan_notice
from connector.core.policy import decide_transactional
from tests.core.builders import DEFAULTS, NOW, grant, withdrawal

ROUTES = RouteSettings(audience="main", route=Route.TRANSACTIONAL, transactional_ready=True)
ITEMS = ("CONCERT-99", "THEATRE-1")
SPEC = NoticeSpec(
    id="n1",
    kind=NoticeKind.CANCELLATION,
    audience="main",
    target=NoticeTarget(item="CONCERT-99"),
    template=NoticeTemplate(subject="s", text="t"),
    from_email="service@example.no",
)
GRACE = DEFAULTS.transactional_days_after_service

days = st.integers(min_value=-200, max_value=60)


@st.composite
def relationships(draw: st.DrawFn, contact: str) -> Relationship:
    kind = draw(st.sampled_from(list(RelationshipKind)))
    start = NOW + timedelta(days=draw(days))
    later = st.none() | st.integers(0, 120).map(lambda d: start + timedelta(days=d))
    return Relationship(
        id=f"{contact}-r{draw(st.integers(0, 10**6))}",
        kind=kind,
        started_at=start,
        reference=draw(st.sampled_from(["8812", "9913", None])),
        service_date=draw(later) if kind is RelationshipKind.PURCHASE else None,
        ended_at=draw(later) if kind is not RelationshipKind.PURCHASE else None,
        item=draw(st.sampled_from([*ITEMS, None])),
    )


def moment(draw: st.DrawFn) -> datetime:
    return NOW + timedelta(days=draw(st.integers(-100, 0)))


@st.composite
def contacts(draw: st.DrawFn, index: int) -> NoticeCandidate:
    contact = f"c{index}"
    rels = tuple(draw(st.lists(relationships(contact), max_size=3)))
    opt_outs: list[object] = []
    if draw(st.booleans()):
        opt_outs.append(withdrawal("newsletter", at=moment(draw)))
    if draw(st.booleans()):
        opt_outs.append(Objection(id=f"{contact}-o", occurred_at=moment(draw), source="x"))
    stops = draw(st.lists(st.sampled_from(list(SuppressionReason)), max_size=2, unique=True))
    suppressions = tuple(Suppression("ab" * 32, reason, moment(draw)) for reason in stops)
    facts = ContactFacts(
        contact_id=contact,
        erased=draw(st.booleans()) and draw(st.booleans()),
        consent_events=(
            grant(at=NOW - timedelta(days=300)),
            *[o for o in opt_outs if not isinstance(o, Objection)],
        ),  # type: ignore[list-item]
        relationships=rels,
        objections=tuple(o for o in opt_outs if isinstance(o, Objection)),
        suppressions=suppressions,
    )
    return NoticeCandidate(facts, f"{contact}@example.no")


population = st.integers(0, 12).flatmap(lambda n: st.tuples(*(contacts(i) for i in range(n))))


def _open(r: Relationship) -> bool:
    """P4 for one relationship, written out independently of the policy module."""
    if r.started_at > NOW:
        return False
    if r.kind is RelationshipKind.PURCHASE:
        return (r.service_date or r.started_at) + timedelta(days=GRACE) > NOW
    return r.ended_at is None or r.ended_at + timedelta(days=GRACE) > NOW


def lawful(candidate: NoticeCandidate) -> bool:
    facts = candidate.facts
    stopped = {SuppressionReason.CLEANED, SuppressionReason.COMPLAINED, SuppressionReason.ERASED}
    if facts.erased or any(s.reason in stopped for s in facts.suppressions):
        return False
    return any(r.item == "CONCERT-99" and _open(r) for r in facts.relationships)


def recipients(candidates: tuple[NoticeCandidate, ...]) -> set[str]:
    plan = plan_notice(SPEC, candidates, ROUTES, DEFAULTS, NOW)
    assert len(plan.recipients) + len(plan.left_out) == len(candidates)
    return {r.contact_id for r in plan.recipients}


@settings(max_examples=300)
@given(population)
def test_recipients_are_exactly_the_contacts_p4_allows_for_the_item(
    candidates: tuple[NoticeCandidate, ...],
) -> None:
    assert recipients(candidates) == {c.facts.contact_id for c in candidates if lawful(c)}


@settings(max_examples=200)
@given(population, st.data())
def test_withdrawals_and_objections_never_remove_a_recipient(
    candidates: tuple[NoticeCandidate, ...], data: st.DataObject
) -> None:
    before = recipients(candidates)
    opted_out = tuple(
        replace(
            c,
            facts=replace(
                c.facts,
                consent_events=(*c.facts.consent_events, withdrawal("offers", at=moment(data.draw))),
                objections=(*c.facts.objections, Objection(id="late", occurred_at=NOW, source="x")),
                suppressions=(
                    *c.facts.suppressions,
                    Suppression("cd" * 32, SuppressionReason.UNSUBSCRIBED, NOW),
                ),
            ),
        )
        for c in candidates
    )
    assert recipients(opted_out) == before


@settings(max_examples=200)
@given(population, st.sampled_from(["erased", SuppressionReason.CLEANED, SuppressionReason.COMPLAINED]))
def test_erasure_bounce_or_complaint_always_removes_a_recipient(
    candidates: tuple[NoticeCandidate, ...], stop: object
) -> None:
    stopped = tuple(
        replace(
            c,
            facts=replace(c.facts, erased=True)
            if stop == "erased"
            else replace(c.facts, suppressions=(*c.facts.suppressions, Suppression("ef" * 32, stop, NOW))),  # type: ignore[arg-type]
        )
        for c in candidates
    )
    assert recipients(stopped) == set()


@settings(max_examples=300)
@given(population)
def test_the_plan_follows_decide_transactional_for_the_targeted_relationships_and_says_so(
    candidates: tuple[NoticeCandidate, ...],
) -> None:
    """The planner reads P4 set-based (``transactional_window``): a recipient is one the policy itself
    allows for the item's relationships, and the why starts with the policy's reason in its words."""
    plan = plan_notice(SPEC, candidates, ROUTES, DEFAULTS, NOW)
    why = {r.contact_id: r.why for r in plan.recipients}
    stopped = {SuppressionReason.CLEANED, SuppressionReason.COMPLAINED, SuppressionReason.ERASED}
    for candidate in candidates:
        facts = candidate.facts
        scoped = replace(facts, relationships=tuple(r for r in facts.relationships if r.item == "CONCERT-99"))
        decision = decide_transactional(scoped, DEFAULTS, NOW)
        if facts.contact_id in why:
            assert decision.allowed
            assert why[facts.contact_id].startswith(f"{decision.reason}; via Mailchimp Transactional; ")
        elif decision.allowed:
            assert any(s.reason in stopped for s in facts.suppressions)
