"""SMS notices (pure plan, issue 15 item 7): who gets an SMS, who is left out and why, and the calls."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.core.model import Channel, ContactFacts, SuppressionReason
from connector.core.notice_spec import (
    NoticeChannel,
    NoticeKind,
    NoticeSpec,
    NoticeTarget,
    NoticeTemplate,
    channels_of,
    check_spec,
    merge_text,
    spec_from_document,
)
from connector.core.notices import (
    LeftOutReason,
    NoticeCandidate,
    NoticePlan,
    Route,
    RouteSettings,
    plan_notice,
)
from connector.errors import InputError
from tests.core.builders import DEFAULTS, NOW, day, grant, suppression, withdrawal
from tests.core.test_notice_plan import ticket

SMS_ROUTE = RouteSettings(
    audience="main", route=Route.TRANSACTIONAL, transactional_ready=True, sms_ready=True
)
MOBILE = "+4791234567"
LANDLINE = "+4722123456"


def sms_spec(
    channel: str = "both", sms_text: str | None = "*|ITEM|* is cancelled. Refund follows."
) -> NoticeSpec:
    return NoticeSpec(
        id="concert-99-sms",
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item="CONCERT-99"),
        template=NoticeTemplate(subject="Cancelled: *|ITEM|*", text="Dear *|FNAME|*, the concert is off."),
        from_email="service@example.no",
        channels=channels_of(channel),
        sms_text=sms_text,
    )


def person(contact_id: str, phone: str | None = MOBILE, *records: object, **kw: object) -> NoticeCandidate:
    facts = ContactFacts(
        contact_id=contact_id,
        has_phone=phone is not None,
        consent_events=tuple(r for r in records if type(r).__name__ == "ConsentEvent"),  # type: ignore[misc]
        relationships=(ticket(),),
        suppressions=tuple(r for r in records if type(r).__name__ == "Suppression"),  # type: ignore[misc]
    )
    return NoticeCandidate(facts, f"{contact_id}@example.no", "Kari", None, phone=phone, **kw)  # type: ignore[arg-type]


def plan(
    *candidates: NoticeCandidate, spec: NoticeSpec | None = None, routes: RouteSettings = SMS_ROUTE
) -> NoticePlan:
    return plan_notice(spec or sms_spec(), candidates, routes, DEFAULTS, NOW)


def by_channel(result: NoticePlan) -> set[tuple[str, str]]:
    return {(r.contact_id, r.channel.value) for r in result.recipients}


def test_both_channels_reach_a_mobile_holder_by_email_and_sms_with_the_text_merged() -> None:
    result = plan(person("kari"))
    assert by_channel(result) == {("kari", "email"), ("kari", "sms")}
    sms = next(r for r in result.recipients if r.channel is NoticeChannel.SMS)
    assert sms.phone == MOBILE
    assert sms.text == "CONCERT-99 is cancelled. Refund follows."
    assert "by SMS via Mailchimp Transactional" in sms.why
    assert result.calls == {"transactional": 1, "sms": 1}


def test_no_mobile_number_and_a_landline_are_reported_and_email_still_goes() -> None:
    result = plan(person("ola", None), person("per", LANDLINE))
    assert by_channel(result) == {("ola", "email"), ("per", "email")}
    reasons = {(e.contact_id, e.channel, e.reason) for e in result.left_out}
    assert reasons == {
        ("ola", NoticeChannel.SMS, LeftOutReason.NO_MOBILE),
        ("per", NoticeChannel.SMS, LeftOutReason.NO_MOBILE),
    }
    assert {e.why for e in result.left_out} == {
        "no SMS: no mobile number on record",
        "no SMS: the number on record is not a mobile one",
    }


@pytest.mark.parametrize(
    ("routes", "words"),
    [
        (replace(SMS_ROUTE, sms_ready=False), "no SMS sender number configured (transactional.sms_from)"),
        (replace(SMS_ROUTE, transactional_ready=False, sms_ready=False), "transactional.api_key"),
        (
            replace(SMS_ROUTE, route=Route.JOURNEY, journey_ready=True),
            "sends notices by journey, which has no SMS",
        ),
    ],
)
def test_without_an_sms_route_the_plan_says_no_sms_route(routes: RouteSettings, words: str) -> None:
    result = plan(person("kari"), spec=sms_spec("sms"), routes=routes)
    assert result.recipients == ()
    (entry,) = result.left_out
    assert entry.reason is LeftOutReason.NO_SMS_ROUTE
    assert entry.why.startswith("no SMS route: ")
    assert words in entry.why


def test_sms_consent_withdrawn_does_not_stop_a_notice_an_erasure_does() -> None:
    withdrawn = person(
        "kari", MOBILE, grant(channel=Channel.SMS, at=day(-50)), withdrawal(channel=Channel.SMS, at=day(-5))
    )
    erased = replace(person("erik"), facts=replace(person("erik").facts, erased=True))
    result = plan(withdrawn, erased, spec=sms_spec("sms"))
    assert by_channel(result) == {("kari", "sms")}
    assert {(e.contact_id, e.reason) for e in result.left_out} == {("erik", LeftOutReason.ERASED)}


def test_an_email_bounce_stops_the_email_not_the_sms_and_an_sms_reject_stops_the_sms() -> None:
    bounced = person("kari", MOBILE, suppression(SuppressionReason.CLEANED, at=day(-3)))
    stopped = person("ola", MOBILE, sms_reject_reason="unsub")
    result = plan(bounced, stopped)
    assert by_channel(result) == {("kari", "sms"), ("ola", "email")}
    reasons = {(e.contact_id, e.channel, e.reason) for e in result.left_out}
    assert reasons == {
        ("kari", NoticeChannel.EMAIL, LeftOutReason.UNDELIVERABLE),
        ("ola", NoticeChannel.SMS, LeftOutReason.REJECT_LIST),
    }


def test_calls_one_per_ten_numbers_of_one_text_and_one_per_text() -> None:
    same = plan(*(person(f"c{n:02}", f"+479123{n:04}") for n in range(25)), spec=sms_spec("sms"))
    assert same.calls == {"sms": 3}
    personal = sms_spec("sms", "Dear *|FNAME|*, *|ITEM|* is off.")
    names = [replace(person(f"c{n}", f"+479123{n:04}"), first_name=f"N{n % 3}") for n in range(12)]
    result = plan(*names, spec=personal)
    assert result.calls == {"sms": 3}  # 3 texts (N0, N1, N2) of 4 numbers each


@given(
    st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True), st.text(max_size=8), max_size=4)
)
def test_merge_text_fills_every_known_tag_and_blanks_unknown_ones(values: dict[str, str]) -> None:
    text = " ".join(f"*|{name}|*" for name in values) + " *|UNKNOWNTAG|*"
    assert merge_text(text, values) == " ".join(values.values()) + " "


def test_the_spec_keeps_its_channels_and_an_email_only_document_is_unchanged() -> None:
    spec = sms_spec("both")
    assert spec_from_document(spec.document()) == spec
    email_only = replace(spec, channels=(NoticeChannel.EMAIL,), sms_text=None)
    assert "channels" not in email_only.document()
    assert spec_from_document(email_only.document()) == email_only


def test_bad_channel_and_missing_sms_text_are_refused_naming_the_field() -> None:
    with pytest.raises(InputError) as raised:
        channels_of("fax")
    assert raised.value.where == "channel"
    no_text = replace(sms_spec("sms", None), template=NoticeTemplate(template_name="cancelled"))
    with pytest.raises(InputError) as refused:
        check_spec(no_text)
    assert refused.value.where == "sms_text"
    check_spec(replace(sms_spec("sms", None), from_email=""))  # an SMS-only notice needs no sender address
