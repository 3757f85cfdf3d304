"""P4: transactional notices while any relationship is open; never affected by marketing opt-outs."""

from datetime import timedelta

import pytest

from connector.core.model import ConsentEvent, ContactFacts, Objection, Rule, Suppression, SuppressionReason
from tests.core.builders import (
    EMAIL,
    SMS,
    account,
    day,
    entitlement,
    facts,
    grant,
    objection,
    purchase,
    subscription,
    suppression,
    withdrawal,
)

OptOut = ConsentEvent | Objection | Suppression


CONCERT_TICKET = purchase(at=day(-20), service_date=day(10), reference="CONCERT-99", categories=("concerts",))
NEWSLETTER = grant("newsletter", at=day(-30))


def _concert_ticket_holder(*opt_outs: OptOut) -> ContactFacts:
    return facts(NEWSLETTER, CONCERT_TICKET, *opt_outs)


def test_open_order_allows_transactional_notices() -> None:
    ticket = purchase(at=day(-20), service_date=day(10))

    result = entitlement(facts(ticket))

    assert result.transactional.allowed
    assert result.transactional.rule is Rule.P4_TRANSACTIONAL
    assert result.transactional.records == (ticket.ref,)
    assert result.transactional.valid_until == day(10) + timedelta(days=30)


def test_no_relationship_means_no_transactional_notices() -> None:
    result = entitlement(facts(grant("newsletter", at=day(-2))))

    assert not result.transactional.allowed


def test_transactional_ends_after_the_grace_period_following_service() -> None:
    contact = facts(purchase(at=day(-20), service_date=day(-1)))

    assert entitlement(contact, now=day(28)).transactional.allowed
    assert not entitlement(contact, now=day(29)).transactional.allowed


def test_active_subscription_and_account_allow_transactional_without_end() -> None:
    for relationship in (subscription(at=day(-100)), account(at=day(-100))):
        found = entitlement(facts(relationship)).transactional
        assert found.allowed
        assert found.valid_until is None


def test_erased_contact_gets_no_transactional_notices() -> None:
    contact = facts(purchase(at=day(-20), service_date=day(10)), erased=True)

    assert not entitlement(contact).transactional.allowed


@pytest.mark.parametrize(
    "opt_out",
    [
        withdrawal("newsletter", EMAIL, at=day(-1)),
        withdrawal("offers", SMS, at=day(-1)),
        objection(at=day(-1)),
        objection(at=day(-1), purpose="offers"),
        objection(at=day(-1), channel=EMAIL),
        suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1)),
        suppression(SuppressionReason.COMPLAINED, at=day(-1)),
        suppression(SuppressionReason.CLEANED, at=day(-1)),
    ],
    ids=lambda o: type(o).__name__ + ":" + str(getattr(o, "reason", None) or getattr(o, "purpose", "all")),
)
def test_transactional_stays_allowed_after_every_kind_of_opt_out(opt_out: OptOut) -> None:
    before = entitlement(_concert_ticket_holder())
    after = entitlement(_concert_ticket_holder(opt_out))

    assert after.transactional.allowed
    assert after.transactional.records == (CONCERT_TICKET.ref,)
    assert after.transactional == before.transactional


def test_transactional_stays_allowed_after_every_opt_out_at_once() -> None:
    everything = _concert_ticket_holder(
        withdrawal("newsletter", at=day(-3)),
        objection(at=day(-2)),
        suppression(SuppressionReason.UNSUBSCRIBED, at=day(-1)),
        suppression(SuppressionReason.COMPLAINED, at=day(-1)),
        suppression(SuppressionReason.CLEANED, at=day(-1)),
    )

    result = entitlement(everything)

    assert result.allowed_purposes == frozenset()
    assert result.transactional.allowed
