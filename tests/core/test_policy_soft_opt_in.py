"""P3 soft opt-in: a sale to this person, similar products, a free opt-out offered, a current relationship."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connector.core.model import Basis, Relationship, Rule
from connector.core.policy_settings import (
    FollowUpSettings,
    PolicySettings,
    PurposeSettings,
    SoftOptInSettings,
)
from tests.core.builders import (
    EMAIL,
    NOW,
    SMS,
    account,
    day,
    decision,
    facts,
    purchase,
    subscription,
)

# The seed example: a trip bought 60 days before departure, lasting 14 days.
BOUGHT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
DEPARTURE = BOUGHT + timedelta(days=60)
RETURN = DEPARTURE + timedelta(days=14)
FOLLOW_UP_ENDS = RETURN + timedelta(days=90)


def _trip() -> Relationship:
    return purchase(at=BOUGHT, service_date=RETURN, reference="TRIP-4711", categories=("trips",))


def test_travel_agency_may_offer_extras_from_purchase_until_return_plus_follow_up() -> None:
    contact = facts(_trip())
    moments = [BOUGHT, DEPARTURE, RETURN, RETURN + timedelta(days=45), FOLLOW_UP_ENDS - timedelta(seconds=1)]

    for moment in moments:
        found = decision(contact, "offers", EMAIL, now=moment)
        assert found.allowed, moment
        assert found.basis is Basis.EXISTING_CUSTOMER
        assert found.rule is Rule.P3_SOFT_OPT_IN
        assert found.valid_until == FOLLOW_UP_ENDS
        assert found.valid_until == RETURN + timedelta(days=90)


def test_travel_agency_may_not_offer_before_the_purchase() -> None:
    found = decision(facts(_trip()), "offers", EMAIL, now=BOUGHT - timedelta(seconds=1))

    assert not found.allowed


def test_travel_agency_may_not_offer_after_the_follow_up() -> None:
    contact = facts(_trip())

    for moment in (FOLLOW_UP_ENDS, FOLLOW_UP_ENDS + timedelta(days=200)):
        found = decision(contact, "offers", EMAIL, now=moment)
        assert not found.allowed
        assert found.rule is Rule.P1_NO_BASIS
        assert f"ended {FOLLOW_UP_ENDS.date().isoformat()}" in found.reason


def test_soft_opt_in_covers_every_channel_of_a_similar_products_purpose() -> None:
    contact = facts(purchase(at=day(-5), service_date=day(5)))

    assert decision(contact, "offers", EMAIL).allowed
    assert decision(contact, "offers", SMS).allowed


def test_purchase_without_a_service_date_lasts_follow_up_days_from_the_sale() -> None:
    bought = purchase(at=day(-10))
    contact = facts(bought)

    found = decision(contact, "offers")

    assert found.allowed
    assert found.valid_until == bought.started_at + timedelta(days=90)
    assert not decision(contact, "offers", now=bought.started_at + timedelta(days=90)).allowed


def test_purchase_follow_up_is_configurable() -> None:
    settings = PolicySettings(follow_up=FollowUpSettings(purchase=30))
    delivered = day(-20)
    contact = facts(purchase(at=day(-40), service_date=delivered))

    found = decision(contact, "offers", settings=settings)

    assert found.valid_until == delivered + timedelta(days=30)
    assert not decision(contact, "offers", settings=settings, now=delivered + timedelta(days=30)).allowed


def test_purchase_with_no_follow_up_ends_at_delivery() -> None:
    settings = PolicySettings(follow_up=FollowUpSettings(purchase=0))
    contact = facts(purchase(at=day(-40), service_date=day(2)))

    assert decision(contact, "offers", settings=settings, now=day(1)).allowed
    assert not decision(contact, "offers", settings=settings, now=day(2)).allowed


def test_active_subscription_is_an_open_ended_basis() -> None:
    found = decision(facts(subscription(at=day(-400))), "offers")

    assert found.allowed
    assert found.rule is Rule.P3_SOFT_OPT_IN
    assert found.valid_until is None


def test_ended_subscription_lasts_until_end_plus_follow_up() -> None:
    ended = day(-30)
    contact = facts(subscription(at=day(-400), ended_at=ended))

    found = decision(contact, "offers")

    assert found.allowed
    assert found.valid_until == ended + timedelta(days=90)
    assert not decision(contact, "offers", now=ended + timedelta(days=90)).allowed


def test_active_account_is_a_basis_and_closing_it_ends_the_basis() -> None:
    closed = day(-1)
    contact = facts(account(at=day(-100), ended_at=closed))

    assert decision(contact, "offers", now=closed - timedelta(seconds=1)).allowed
    assert decision(contact, "offers", now=closed - timedelta(seconds=1)).valid_until is None
    assert not decision(contact, "offers", now=closed).allowed
    assert not decision(contact, "offers").allowed


def test_order_below_the_minimum_value_creates_no_soft_opt_in() -> None:
    settings = PolicySettings(soft_opt_in=SoftOptInSettings(min_order_value=Decimal(500)))
    cheap = facts(purchase(at=day(-1), order_value=Decimal("499.99")))

    found = decision(cheap, "offers", settings=settings)

    assert not found.allowed
    assert "order value is below 500" in found.reason


def test_order_at_the_minimum_value_creates_soft_opt_in() -> None:
    settings = PolicySettings(soft_opt_in=SoftOptInSettings(min_order_value=Decimal(500)))

    assert decision(
        facts(purchase(at=day(-1), order_value=Decimal(500))), "offers", settings=settings
    ).allowed


def test_unknown_order_value_creates_no_soft_opt_in_when_a_minimum_is_set() -> None:
    settings = PolicySettings(soft_opt_in=SoftOptInSettings(min_order_value=Decimal(500)))

    found = decision(facts(purchase(at=day(-1), order_value=None)), "offers", settings=settings)

    assert not found.allowed
    assert "order value" in found.reason


def test_any_order_value_creates_soft_opt_in_by_default() -> None:
    assert decision(facts(purchase(at=day(-1), order_value=Decimal(0))), "offers").allowed
    assert decision(facts(purchase(at=day(-1), order_value=None)), "offers").allowed


def test_minimum_order_value_does_not_apply_to_subscriptions() -> None:
    settings = PolicySettings(soft_opt_in=SoftOptInSettings(min_order_value=Decimal(500)))

    assert decision(facts(subscription(at=day(-10))), "offers", settings=settings).allowed


def test_no_soft_opt_in_without_a_free_opt_out_offered_at_collection() -> None:
    found = decision(facts(purchase(at=day(-1), opt_out_offered=False)), "offers")

    assert not found.allowed
    assert found.rule is Rule.P1_NO_BASIS
    assert "no free opt-out was offered" in found.reason


def test_no_soft_opt_in_for_a_purpose_that_is_not_similar_products() -> None:
    found = decision(facts(purchase(at=day(-1), service_date=day(10))), "newsletter")

    assert not found.allowed
    assert "needs consent even for customers" in found.reason


def test_partner_offers_are_never_soft_opt_in() -> None:
    found = decision(facts(purchase(at=day(-1), service_date=day(10))), "partner_offers")

    assert not found.allowed
    assert found.rule is Rule.P1_NO_BASIS


def test_partner_offers_cannot_be_configured_as_similar_products() -> None:
    with pytest.raises(ValidationError, match="never similar products"):
        PolicySettings(
            purposes=(PurposeSettings(name="partner_offers", label="Partner offers", similar_products=True),)
        )


def _extras_only() -> PolicySettings:
    return PolicySettings(
        purposes=(
            PurposeSettings(
                name="extras",
                label="Travel extras",
                channels=(EMAIL,),
                similar_products=True,
                categories=("trips", "insurance"),
            ),
        )
    )


def test_soft_opt_in_only_for_the_categories_the_purpose_is_similar_to() -> None:
    settings = _extras_only()
    trip = facts(purchase(at=day(-1), categories=("trips",)))
    shoes = facts(purchase(at=day(-1), categories=("shoes",)))

    assert decision(trip, "extras", settings=settings).allowed
    found = decision(shoes, "extras", settings=settings)
    assert not found.allowed
    assert "not similar" in found.reason


def test_longest_current_window_decides() -> None:
    short = purchase(at=day(-100), service_date=day(-80), reference="OLD")
    long = purchase(at=day(-10), service_date=day(20), reference="NEW")

    found = decision(facts(short, long), "offers")

    assert found.records == (long.ref,)
    assert found.valid_until == day(20) + timedelta(days=90)


def test_future_dated_relationship_is_no_basis_yet() -> None:
    assert not decision(facts(purchase(at=NOW + timedelta(hours=1))), "offers").allowed
