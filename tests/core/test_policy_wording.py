"""P8: every decision is a plain sentence naming its rule, its records' dates and how long it holds."""

from datetime import UTC, datetime, timedelta

from connector.core.model import ConsentMethod, Rule, SuppressionReason
from connector.core.policy_settings import PolicySettings
from connector.core.wording import decision_sentence, explanation
from tests.core.builders import (
    DEFAULTS,
    EMAIL,
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

DELIVERED = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
AFTER_DELIVERY = DELIVERED + timedelta(days=7)


def test_soft_opt_in_sentence_names_order_dates_follow_up_and_until_when() -> None:
    contact = facts(purchase(at=DELIVERED - timedelta(days=30), service_date=DELIVERED, reference="8812"))

    sentence = decision_sentence(decision(contact, "offers", EMAIL, now=AFTER_DELIVERY), DEFAULTS)

    assert sentence.startswith("Offers by e-mail: allowed until 2027-02-14 — existing customer, ")
    assert "order 8812" in sentence
    assert "2026-11-16" in sentence
    assert "follow-up 90 days" in sentence
    assert sentence.endswith("[P3]")


def test_withdrawal_sentence_names_the_date_and_mailchimp() -> None:
    pulled = withdrawal("newsletter", at=datetime(2026, 10, 2, 8, 15, tzinfo=UTC))
    contact = facts(grant("newsletter", at=day(-100)), pulled)

    sentence = decision_sentence(decision(contact), DEFAULTS)

    assert sentence.startswith("Newsletter by e-mail: denied — ")
    assert "withdrawn 2026-10-02 via Mailchimp" in sentence
    assert sentence.endswith("[P0]")


def test_withdrawal_sentence_names_the_campaign_when_known() -> None:
    pulled = withdrawal("newsletter", at=day(-3), source_ref="campaign 42ab")

    sentence = decision_sentence(decision(facts(pulled)), DEFAULTS)

    assert "via Mailchimp unsubscribe link (campaign 42ab)" in sentence


def test_consent_sentence_names_how_and_when_it_was_given_and_confirmed() -> None:
    given, confirmed = confirmed_grant("newsletter", at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC))

    sentence = decision_sentence(decision(facts(given, confirmed)), DEFAULTS)

    assert sentence.startswith("Newsletter by e-mail: allowed — consent given 2026-03-04 via sign-up form")
    assert "(notice notice-3)" in sentence
    assert "confirmed 2026-03-04" in sentence
    assert sentence.endswith("[P2]")


def test_expiring_consent_sentence_says_until_when() -> None:
    settings = PolicySettings(consent_max_age_days=365)
    given = grant("newsletter", at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC), method=ConsentMethod.CHECKOUT)

    sentence = decision_sentence(decision(facts(given), settings=settings), settings)

    assert "allowed until 2027-03-04" in sentence


def test_denial_sentences_name_the_rule_and_why() -> None:
    contact = facts(
        grant("partner_offers", at=day(-5), active_act=False),
        objection(at=datetime(2026, 9, 1, tzinfo=UTC), purpose="offers", source="admin-api"),
        suppression(SuppressionReason.CLEANED, at=datetime(2026, 8, 1, tzinfo=UTC)),
    )
    settings = DEFAULTS

    partner = decision_sentence(decision(contact, "partner_offers", EMAIL), settings)
    sms = decision_sentence(decision(contact, "offers", SMS), settings)

    assert partner == (
        "Partner offers by e-mail: denied — "
        "address suppressed: address undeliverable (bounced) on 2026-08-01 [P0]"
    )
    assert sms.startswith("Offers by SMS: denied — objected to offers on 2026-09-01 via staff (admin API)")
    assert sms.endswith("[P0]")


def test_no_basis_sentence_names_rule_p1() -> None:
    sentence = decision_sentence(decision(facts()), DEFAULTS)

    assert sentence == "Newsletter by e-mail: denied — no consent and no customer relationship [P1]"


def test_every_decision_renders_as_a_sentence_naming_its_rule() -> None:
    contact = facts(
        purchase(at=DELIVERED - timedelta(days=30), service_date=DELIVERED, reference="8812"),
        *confirmed_grant("newsletter", at=day(-40)),
        withdrawal("offers", SMS, at=day(-2)),
    )
    result = entitlement(contact, now=AFTER_DELIVERY)

    lines = explanation(result, DEFAULTS)

    assert len(lines) == len(result.marketing) + 2  # one per decision, transactional, next review
    for item, line in zip(result.marketing, lines, strict=False):
        assert line.endswith(f"[{item.rule.value}]")
        assert ("allowed" if item.allowed else "denied") in line
        if item.valid_until is not None:
            assert f"allowed until {item.valid_until.date().isoformat()}" in line
    assert {item.rule for item in result.marketing} == {
        Rule.P0_HARD_STOP,
        Rule.P1_NO_BASIS,
        Rule.P2_CONSENT,
        Rule.P3_SOFT_OPT_IN,
    }


def test_transactional_sentence_says_opt_outs_never_stop_it() -> None:
    contact = facts(purchase(at=DELIVERED - timedelta(days=30), service_date=DELIVERED, reference="8812"))

    lines = explanation(entitlement(contact, now=AFTER_DELIVERY), DEFAULTS)

    transactional = lines[-2]
    assert transactional.startswith("Transactional notices: allowed until 2026-12-16 — order 8812")
    assert "opt-outs of marketing never stop these" in transactional
    assert transactional.endswith("[P4]")


def test_explanation_ends_with_the_next_review_date() -> None:
    contact = facts(purchase(at=DELIVERED - timedelta(days=30), service_date=DELIVERED, reference="8812"))

    result = entitlement(contact, now=AFTER_DELIVERY)

    assert result.next_review_at == DELIVERED + timedelta(days=30)
    assert explanation(result, DEFAULTS)[-1] == "Next change expected: 2026-12-16 (without new data)"
