"""Planning a notice (pure): recipients with route and why, everyone left out with why, calls."""

from dataclasses import replace

import pytest

from connector.core.model import ContactFacts, Relationship, SuppressionReason
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate, check_spec
from connector.core.notices import (
    LeftOutReason,
    MemberState,
    NoticeCandidate,
    NoticePlan,
    Route,
    RouteSettings,
    plan_notice,
)
from connector.core.remote import MemberStatus
from connector.errors import InputError
from tests.core.builders import DEFAULTS, NOW, day, grant, objection, purchase, suppression, withdrawal

TRANSACTIONAL = RouteSettings(audience="main", route=Route.TRANSACTIONAL, transactional_ready=True)


def spec(target: NoticeTarget | None = None) -> NoticeSpec:
    return NoticeSpec(
        id="concert-99-cancelled",
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=target or NoticeTarget(item="CONCERT-99"),
        template=NoticeTemplate(subject="Cancelled: *|ITEM|*", text="Dear *|FNAME|*, the concert is off."),
        from_email="service@example.no",
    )


def ticket(item: str = "CONCERT-99", **overrides: object) -> Relationship:
    values: dict[str, object] = {"at": day(-20), "service_date": day(10)}
    values.update(overrides)
    return replace(purchase(**values), item=item)  # type: ignore[arg-type]


def holder(
    contact_id: str, *records: object, member: MemberState | None = None, reject: str | None = None
) -> NoticeCandidate:
    facts = ContactFacts(
        contact_id=contact_id,
        consent_events=tuple(r for r in records if type(r).__name__ == "ConsentEvent"),  # type: ignore[misc]
        relationships=tuple(r for r in records if isinstance(r, Relationship)),
        objections=tuple(r for r in records if type(r).__name__ == "Objection"),  # type: ignore[misc]
        suppressions=tuple(r for r in records if type(r).__name__ == "Suppression"),  # type: ignore[misc]
    )
    return NoticeCandidate(facts, f"{contact_id}@example.no", "Kari", None, member, reject)


def plan(*candidates: NoticeCandidate, routes: RouteSettings = TRANSACTIONAL, **kw: object) -> NoticePlan:
    return plan_notice(kw.pop("spec", spec()), candidates, routes, DEFAULTS, NOW, **kw)  # type: ignore[arg-type]


def left(result: NoticePlan) -> dict[str | None, LeftOutReason]:
    return {entry.contact_id: entry.reason for entry in result.left_out}


def test_unsubscribed_holder_gets_the_notice_through_transactional_with_the_route_in_words() -> None:
    unsubscribed = MemberState(MemberStatus.UNSUBSCRIBED, day(-2))
    result = plan(holder("kari", ticket(), member=unsubscribed))

    (recipient,) = result.recipients
    assert recipient.route is Route.TRANSACTIONAL
    assert (
        "via Mailchimp Transactional; unsubscribed from marketing in audience 'main' on 2026-11-21"
        in recipient.why
    )
    assert recipient.merge_vars["ITEM"] == "CONCERT-99"
    assert recipient.merge_vars["FNAME"] == "Kari"
    assert result.calls == {"transactional": 1}


def test_withdrawals_objections_and_unsubscribes_never_stop_a_notice() -> None:
    stops = (
        withdrawal("newsletter", at=day(-3)),
        objection(at=day(-2)),
        suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1)),
    )
    result = plan(holder("kari", grant(at=day(-40)), ticket(), *stops))

    assert [r.contact_id for r in result.recipients] == ["kari"]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (SuppressionReason.CLEANED, LeftOutReason.UNDELIVERABLE),
        (SuppressionReason.COMPLAINED, LeftOutReason.COMPLAINED),
        (SuppressionReason.ERASED, LeftOutReason.ERASED),
    ],
)
def test_bounce_complaint_or_erasure_leaves_the_person_out(
    reason: SuppressionReason, expected: LeftOutReason
) -> None:
    result = plan(holder("ola", ticket(), suppression(reason, at=day(-1))))

    assert not result.recipients
    assert left(result) == {"ola": expected}


def test_holders_of_other_items_and_ended_relationships_are_left_out_with_why() -> None:
    over = ticket(at=day(-100), service_date=day(-40))
    result = plan(holder("other", ticket(item="THEATRE-1")), holder("past", over), holder("kari", ticket()))

    assert [r.contact_id for r in result.recipients] == ["kari"]
    assert left(result) == {"other": LeftOutReason.NO_RELATIONSHIP, "past": LeftOutReason.RELATIONSHIP_OVER}
    past = next(e for e in result.left_out if e.contact_id == "past")
    assert "relationship over on 2026-11-13" in past.why
    assert "30 days after service" in past.why


def test_erased_contact_and_cleaned_member_are_left_out() -> None:
    erased = holder("gone", ticket())
    erased = replace(erased, facts=replace(erased.facts, erased=True))
    cleaned = holder("bounced", ticket(), member=MemberState(MemberStatus.CLEANED, day(-5)))

    result = plan(erased, cleaned)

    assert left(result) == {"gone": LeftOutReason.ERASED, "bounced": LeftOutReason.UNDELIVERABLE}
    assert "no route: address cleaned in audience 'main' on 2026-11-18" in result.left_out[1].why


def test_reject_list_leaves_the_address_out_and_says_why() -> None:
    result = plan(holder("kari", ticket(), reject="unsub"))

    assert left(result) == {"kari": LeftOutReason.REJECT_LIST}
    assert "reject list (unsub)" in result.left_out[0].why


def test_journey_reaches_whom_mailchimp_documents_the_rest_need_transactional() -> None:
    """Subscribed, unsubscribed and non-subscribed members receive a journey's transactional e-mail;
    archived and pending ones cannot be triggered (docs/mailchimp-behaviour.md "Customer Journey
    trigger"; cleaned ones are left out earlier as undeliverable)."""
    routes = RouteSettings(audience="main", route=Route.JOURNEY, journey_ready=True)
    subscribed = holder("sub", ticket(), member=MemberState(MemberStatus.SUBSCRIBED))
    unsubscribed = holder("unsub", ticket(), member=MemberState(MemberStatus.UNSUBSCRIBED, day(-1)))
    non_subscribed = holder("nonsub", ticket(), member=MemberState(MemberStatus.TRANSACTIONAL))
    archived = holder("arch", ticket(), member=MemberState(MemberStatus.ARCHIVED, day(-2)))
    pending = holder("pend", ticket(), member=MemberState(MemberStatus.PENDING))
    absent = holder("absent", ticket())

    result = plan(subscribed, unsubscribed, non_subscribed, archived, pending, absent, routes=routes)

    assert sorted((r.contact_id, r.route) for r in result.recipients) == [
        ("nonsub", Route.JOURNEY),
        ("sub", Route.JOURNEY),
        ("unsub", Route.JOURNEY),
    ]
    assert left(result) == {
        "arch": LeftOutReason.NEEDS_TRANSACTIONAL,
        "pend": LeftOutReason.NEEDS_TRANSACTIONAL,
        "absent": LeftOutReason.NEEDS_TRANSACTIONAL,
    }
    assert all("needs Mailchimp Transactional" in x.why for x in result.left_out)
    assert result.calls == {"journey": 3}


def test_without_a_route_subscribed_members_go_by_campaign_and_others_are_unreachable() -> None:
    routes = RouteSettings(audience="main", route=Route.TRANSACTIONAL, transactional_ready=False)
    subscribed = holder("sub", ticket(), member=MemberState(MemberStatus.SUBSCRIBED))
    unsubscribed = holder("unsub", ticket(), member=MemberState(MemberStatus.UNSUBSCRIBED, day(-1)))

    result = plan(subscribed, unsubscribed, routes=routes)

    assert [r.why.split("; ")[-1] for r in result.recipients] == [
        "via campaign to segment 'Transactional notices' (subscribed)"
    ]
    assert left(result) == {"unsub": LeftOutReason.NO_ROUTE}
    assert "Mailchimp Transactional is not configured" in result.left_out[0].why


def test_calls_are_recipients_per_call_rounded_up() -> None:
    routes = replace(TRANSACTIONAL, max_recipients_per_call=2)
    result = plan(*(holder(f"c{i}", ticket()) for i in range(5)), routes=routes)

    assert result.calls == {"transactional": 3}


def test_references_and_addresses_no_contact_holds_are_reported() -> None:
    target = NoticeTarget(references=("8812", "NOPE"), emails=("gone@example.no", "who@example.no"))
    result = plan(holder("kari", ticket()), spec=spec(target), erased_emails=frozenset({"gone@example.no"}))

    assert [r.contact_id for r in result.recipients] == ["kari"]
    reasons = sorted((e.reason.value, e.why) for e in result.left_out)
    assert reasons == [
        ("erased", "an address of the file: the person's data was erased"),
        ("unknown", "an address of the file: no contact has it"),
        ("unknown", "no contact holds reference 'NOPE'"),
    ]


def test_a_spec_without_target_or_body_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="target"):
        check_spec(spec(NoticeTarget()))
    with pytest.raises(InputError, match="text"):
        check_spec(replace(spec(), template=NoticeTemplate(subject="x")))
    with pytest.raises(InputError, match="id"):
        check_spec(replace(spec(), id="bad id"))
    with pytest.raises(ValueError, match="'newsletter' is not a valid NoticeKind"):
        NoticeKind("newsletter")
