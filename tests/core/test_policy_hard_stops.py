"""P0: hard stops come first and beat every basis, except a strictly newer valid consent where §3 allows."""

from datetime import timedelta

import pytest

from connector.core.model import (
    Basis,
    ConsentEvent,
    RecordKind,
    RecordRef,
    Relationship,
    Rule,
    SuppressionReason,
)
from connector.core.policy import review_at
from tests.core.builders import (
    EMAIL,
    NOW,
    SMS,
    confirmed_grant,
    day,
    decision,
    entitlement,
    facts,
    grant,
    objection,
    purchase,
    suppression,
    withdrawal,
)


def _live_customer_with_consent() -> list[ConsentEvent | Relationship]:
    """Consent for every purpose × channel plus a current purchase: every basis there is."""
    return [
        grant("newsletter", EMAIL, at=day(-10)),
        grant("offers", EMAIL, at=day(-10)),
        grant("offers", SMS, at=day(-10)),
        grant("partner_offers", EMAIL, at=day(-10)),
        purchase(at=day(-5), service_date=day(5)),
    ]


def test_erased_contact_gets_no_marketing_whatever_the_basis() -> None:
    contact = facts(*_live_customer_with_consent(), erased=True)

    result = entitlement(contact)

    assert result.allowed_purposes == frozenset()
    for item in result.marketing:
        assert item.rule is Rule.P0_HARD_STOP
        assert item.basis is Basis.NONE
        assert item.records == (RecordRef(RecordKind.CONTACT, "contact-1"),)
        assert "erased" in item.reason


def test_restricted_processing_stops_all_marketing() -> None:
    contact = facts(*_live_customer_with_consent(), processing_restricted=True)

    result = entitlement(contact)

    assert result.allowed_purposes == frozenset()
    assert {d.rule for d in result.marketing} == {Rule.P0_HARD_STOP}
    assert all("restricted" in d.reason for d in result.marketing)


def test_no_email_address_denies_email_but_not_sms() -> None:
    contact = facts(*_live_customer_with_consent(), has_email=False)

    by_email = decision(contact, "offers", EMAIL)
    by_sms = decision(contact, "offers", SMS)

    assert not by_email.allowed
    assert by_email.rule is Rule.P0_HARD_STOP
    assert "no e-mail address" in by_email.reason
    assert by_sms.allowed


def test_no_mobile_number_denies_sms_but_not_email() -> None:
    contact = facts(*_live_customer_with_consent(), has_phone=False)

    by_sms = decision(contact, "offers", SMS)

    assert not by_sms.allowed
    assert by_sms.rule is Rule.P0_HARD_STOP
    assert "no mobile number" in by_sms.reason
    assert decision(contact, "offers", EMAIL).allowed


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (SuppressionReason.UNSUBSCRIBED, "unsubscribed"),
        (SuppressionReason.CLEANED, "undeliverable"),
        (SuppressionReason.COMPLAINED, "spam"),
        (SuppressionReason.ERASED, "erased"),
    ],
)
def test_suppressed_address_gets_no_email_marketing(reason: SuppressionReason, words: str) -> None:
    entry = suppression(reason, at=day(-1))
    contact = facts(*_live_customer_with_consent(), entry)

    for purpose in ("newsletter", "offers", "partner_offers"):
        found = decision(contact, purpose, EMAIL)
        assert not found.allowed
        assert found.rule is Rule.P0_HARD_STOP
        assert found.records == (entry.ref,)
        assert words in found.reason
        assert day(-1).date().isoformat() in found.reason


def test_suppression_yields_only_to_a_strictly_newer_valid_consent() -> None:
    entry = suppression(SuppressionReason.UNSUBSCRIBED, at=day(-3))
    same_instant = grant("newsletter", at=day(-3))
    newer = grant("offers", at=day(-2))
    older = grant("partner_offers", at=day(-4))
    contact = facts(entry, same_instant, newer, older)

    assert not decision(contact, "newsletter").allowed
    assert not decision(contact, "partner_offers").allowed
    assert decision(contact, "offers").allowed
    assert decision(contact, "offers").basis is Basis.CONSENT


def test_suppression_is_not_lifted_by_a_live_soft_opt_in() -> None:
    contact = facts(
        suppression(SuppressionReason.UNSUBSCRIBED, at=day(-3)),
        purchase(at=day(-2), service_date=day(10)),
    )

    found = decision(contact, "offers", EMAIL)

    assert not found.allowed
    assert found.rule is Rule.P0_HARD_STOP


def test_objection_to_all_marketing_covers_every_purpose_and_channel() -> None:
    against = objection(at=day(-1))
    contact = facts(*_live_customer_with_consent(), against)

    result = entitlement(contact)

    assert result.allowed_purposes == frozenset()
    for item in result.marketing:
        assert item.rule is Rule.P0_HARD_STOP
        assert item.records == (against.ref,)
        assert "objected to all marketing" in item.reason


def test_objection_to_one_purpose_leaves_other_purposes() -> None:
    against = objection(at=day(-1), purpose="offers")
    contact = facts(*_live_customer_with_consent(), against)

    result = entitlement(contact)

    assert not result.allows("offers", EMAIL)
    assert not result.allows("offers", SMS)
    assert result.allows("newsletter", EMAIL)
    assert result.allows("partner_offers", EMAIL)


def test_objection_to_one_channel_leaves_other_channels() -> None:
    against = objection(at=day(-1), channel=SMS)
    contact = facts(*_live_customer_with_consent(), against)

    result = entitlement(contact)

    assert not result.allows("offers", SMS)
    assert result.allows("offers", EMAIL)
    assert result.allows("newsletter", EMAIL)


def test_objection_to_one_purpose_on_one_channel_covers_only_that_pair() -> None:
    against = objection(at=day(-1), purpose="offers", channel=EMAIL)
    contact = facts(*_live_customer_with_consent(), against)

    result = entitlement(contact)

    assert not result.allows("offers", EMAIL)
    assert result.allows("offers", SMS)
    assert result.allows("newsletter", EMAIL)


def test_objection_at_the_same_instant_as_consent_wins() -> None:
    contact = facts(grant("newsletter", at=day(-1)), objection(at=day(-1)))

    assert not decision(contact).allowed


def test_withdrawal_denies_the_purpose_and_channel_it_names() -> None:
    pulled = withdrawal("newsletter", EMAIL, at=day(-1))
    contact = facts(grant("newsletter", at=day(-10)), grant("offers", at=day(-10)), pulled)

    found = decision(contact, "newsletter")

    assert not found.allowed
    assert found.rule is Rule.P0_HARD_STOP
    assert found.records == (pulled.ref,)
    assert decision(contact, "offers").allowed


def test_withdrawal_also_ends_soft_opt_in_for_that_purpose_and_channel() -> None:
    contact = facts(purchase(at=day(-5), service_date=day(5)), withdrawal("offers", EMAIL, at=day(-1)))

    assert not decision(contact, "offers", EMAIL).allowed
    assert decision(contact, "offers", SMS).allowed


def test_withdrawal_at_the_same_instant_as_a_grant_wins() -> None:
    contact = facts(grant("newsletter", at=day(-1)), withdrawal("newsletter", at=day(-1)))

    assert not decision(contact).allowed


def test_hard_stops_come_before_a_confirmed_consent() -> None:
    given, confirmed = confirmed_grant("newsletter", at=day(-3))
    contact = facts(given, confirmed, objection(at=day(-1), purpose="newsletter"))

    found = decision(contact)

    assert not found.allowed
    assert found.rule is Rule.P0_HARD_STOP
    assert found.valid_until is None


def test_future_opt_out_does_not_apply_yet() -> None:
    contact = facts(grant("newsletter", at=day(-3)), withdrawal("newsletter", at=NOW + timedelta(hours=1)))

    assert decision(contact).allowed
    assert not decision(contact, now=NOW + timedelta(hours=1)).allowed


def test_simultaneous_suppressions_decide_the_same_whatever_their_order() -> None:
    first = suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1), address_hash="aa" * 32)
    second = suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1), address_hash="bb" * 32)

    assert decision(facts(first, second)) == decision(facts(second, first))


def test_future_dated_suppression_is_when_to_decide_again() -> None:
    contact = facts(grant("newsletter", at=day(-3)), suppression(SuppressionReason.UNSUBSCRIBED, at=day(2)))

    now = entitlement(contact)

    assert now.allows("newsletter", EMAIL)
    assert review_at(contact, now) == day(2)
    assert not entitlement(contact, now=day(2)).allows("newsletter", EMAIL)
