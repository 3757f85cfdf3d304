"""P1 basis required, P2 valid consent: active, evidenced, specific, confirmed where required, unexpired."""

from datetime import timedelta

from connector.core.model import Basis, ConsentMethod, Rule
from connector.core.policy_settings import PolicySettings
from tests.core.builders import (
    DEFAULTS,
    EMAIL,
    NOW,
    SMS,
    confirmation,
    confirmed_grant,
    day,
    decision,
    entitlement,
    facts,
    form_grant,
    grant,
    purchase,
    withdrawal,
)


def test_no_consent_and_no_relationship_means_no_marketing() -> None:
    result = entitlement(facts())

    assert result.allowed_purposes == frozenset()
    for item in result.marketing:
        assert item.rule is Rule.P1_NO_BASIS
        assert item.basis is Basis.NONE
        assert item.reason.startswith("no consent and no customer relationship")


def test_policy_decides_every_configured_purpose_and_channel() -> None:
    result = entitlement(facts())

    pairs = {(d.purpose, d.channel) for d in result.marketing}
    assert pairs == {("newsletter", EMAIL), ("offers", EMAIL), ("offers", SMS), ("partner_offers", EMAIL)}


def test_active_evidenced_checkout_consent_allows_marketing() -> None:
    given = grant("newsletter", at=day(-2))

    found = decision(facts(given))

    assert found.allowed
    assert found.basis is Basis.CONSENT
    assert found.rule is Rule.P2_CONSENT
    assert found.records == (given.ref,)
    assert found.valid_until is None


def test_pre_ticked_box_is_not_consent() -> None:
    ticked_for_them = grant("newsletter", at=day(-2), active_act=False)

    found = decision(facts(ticked_for_them))

    assert not found.allowed
    assert found.rule is Rule.P1_NO_BASIS
    assert "pre-ticked" in found.reason
    assert found.records == (ticked_for_them.ref,)


def test_pre_ticked_box_does_not_replace_an_earlier_valid_consent() -> None:
    contact = facts(grant("newsletter", at=day(-5)), grant("newsletter", at=day(-1), active_act=False))

    assert decision(contact).allowed


def test_consent_without_notice_version_is_not_evidence() -> None:
    found = decision(facts(grant("newsletter", at=day(-2), notice_version=None)))

    assert not found.allowed
    assert "lacks evidence" in found.reason


def test_consent_without_source_is_not_evidence() -> None:
    assert not decision(facts(grant("newsletter", at=day(-2), source=""))).allowed


def test_newsletter_consent_is_not_sms_consent() -> None:
    contact = facts(grant("newsletter", EMAIL, at=day(-2)))

    assert not decision(contact, "offers", SMS).allowed
    assert not decision(contact, "offers", EMAIL).allowed


def test_newsletter_consent_is_not_partner_offers_consent() -> None:
    contact = facts(grant("newsletter", EMAIL, at=day(-2)))

    found = decision(contact, "partner_offers", EMAIL)

    assert not found.allowed
    assert found.rule is Rule.P1_NO_BASIS


def test_consent_for_offers_by_email_is_not_consent_for_offers_by_sms() -> None:
    contact = facts(grant("offers", EMAIL, at=day(-2)))

    assert decision(contact, "offers", EMAIL).allowed
    assert not decision(contact, "offers", SMS).allowed


def test_form_sign_up_needs_double_opt_in() -> None:
    given = form_grant("newsletter", at=day(-2))

    found = decision(facts(given))

    assert not found.allowed
    assert found.rule is Rule.P1_NO_BASIS
    assert "awaits double opt-in confirmation" in found.reason
    assert found.records == (given.ref,)


def test_confirmed_form_sign_up_is_valid_consent() -> None:
    given, confirmed = confirmed_grant("newsletter", at=day(-2))

    found = decision(facts(given, confirmed))

    assert found.allowed
    assert found.rule is Rule.P2_CONSENT
    assert found.records == (given.ref, confirmed.ref)


def test_checkout_consent_needs_no_double_opt_in() -> None:
    assert decision(facts(grant("newsletter", at=day(-2), method=ConsentMethod.CHECKOUT))).allowed


def test_form_sign_up_without_double_opt_in_when_the_company_turns_it_off() -> None:
    settings = PolicySettings(require_double_opt_in=False)

    assert decision(facts(form_grant("newsletter", at=day(-2))), settings=settings).allowed


def test_confirmation_before_the_grant_confirms_nothing() -> None:
    given = form_grant("newsletter", at=day(-2))
    early = confirmation(given, at=day(-3))

    assert not decision(facts(given, early)).allowed


def test_a_new_unconfirmed_sign_up_is_not_confirmed_by_the_previous_confirmation() -> None:
    first, confirmed = confirmed_grant("newsletter", at=day(-10))
    again = form_grant("newsletter", at=day(-1))

    found = decision(facts(first, confirmed, again))

    assert again.ref not in found.records


def test_a_repeat_sign_up_awaiting_confirmation_leaves_the_earlier_confirmed_consent_standing() -> None:
    first, confirmed = confirmed_grant("newsletter", at=day(-10))
    again = form_grant("newsletter", at=day(-1))

    found = decision(facts(first, confirmed, again))

    assert found.allowed
    assert found.records == (first.ref, confirmed.ref)


def test_a_repeat_sign_up_after_a_withdrawal_needs_its_own_confirmation() -> None:
    first, confirmed = confirmed_grant("newsletter", at=day(-10))
    gone = withdrawal("newsletter", at=day(-5))
    again = form_grant("newsletter", at=day(-1))

    found = decision(facts(first, confirmed, gone, again))

    assert not found.allowed


def test_consent_expires_after_the_configured_maximum_age() -> None:
    settings = PolicySettings(consent_max_age_days=365)
    given = grant("newsletter", at=day(-300))
    contact = facts(given)
    expires = given.occurred_at + timedelta(days=365)

    live = decision(contact, settings=settings)
    last_moment = decision(contact, settings=settings, now=expires - timedelta(seconds=1))
    lapsed = decision(contact, settings=settings, now=expires)

    assert live.allowed
    assert live.valid_until == expires
    assert last_moment.allowed
    assert not lapsed.allowed
    assert lapsed.rule is Rule.P1_NO_BASIS
    assert f"expired {expires.date().isoformat()}" in lapsed.reason


def test_consent_never_expires_without_a_maximum_age() -> None:
    assert DEFAULTS.consent_max_age_days is None
    assert decision(facts(grant("newsletter", at=day(-3000)))).allowed


def test_consent_is_preferred_over_soft_opt_in_as_the_basis() -> None:
    given = grant("offers", EMAIL, at=day(-2))
    contact = facts(given, purchase(at=day(-5), service_date=day(5)))

    found = decision(contact, "offers", EMAIL)

    assert found.basis is Basis.CONSENT
    assert found.records == (given.ref,)


def test_consent_given_in_the_future_does_not_count_yet() -> None:
    contact = facts(grant("newsletter", at=NOW + timedelta(minutes=1)))

    assert not decision(contact).allowed
