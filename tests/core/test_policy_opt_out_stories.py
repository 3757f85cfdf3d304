"""Opt-outs over time (docs/guarantees.md §2): only a strictly newer valid consent brings marketing back."""

from datetime import timedelta

from connector.core.model import Basis, Rule
from tests.core.builders import (
    EMAIL,
    SMS,
    confirmation,
    confirmed_grant,
    day,
    decision,
    facts,
    form_grant,
    grant,
    objection,
    purchase,
    withdrawal,
)


def test_objection_beats_live_soft_opt_in() -> None:
    against = objection(at=day(-1), purpose="offers")
    contact = facts(purchase(at=day(-10), service_date=day(30)), against)

    for channel in (EMAIL, SMS):
        found = decision(contact, "offers", channel)
        assert not found.allowed
        assert found.rule is Rule.P0_HARD_STOP
        assert found.records == (against.ref,)


def test_later_purchase_does_not_revive_soft_opt_in_after_objection() -> None:
    contact = facts(
        purchase(at=day(-100), service_date=day(-90)),
        objection(at=day(-50), purpose="offers"),
        purchase(at=day(-5), service_date=day(20), reference="9001"),
    )

    assert not decision(contact, "offers", EMAIL).allowed
    assert not decision(contact, "offers", SMS).allowed


def test_newer_explicit_consent_overrides_an_objection() -> None:
    renewed = grant("offers", EMAIL, at=day(-1))
    contact = facts(
        purchase(at=day(-100), service_date=day(20)),
        objection(at=day(-50), purpose="offers"),
        renewed,
    )

    found = decision(contact, "offers", EMAIL)

    assert found.allowed
    assert found.basis is Basis.CONSENT
    assert found.records == (renewed.ref,)
    assert not decision(contact, "offers", SMS).allowed


def test_consent_older_than_the_objection_does_not_override_it() -> None:
    contact = facts(grant("offers", EMAIL, at=day(-60)), objection(at=day(-50), purpose="offers"))

    assert not decision(contact, "offers", EMAIL).allowed


def test_unconfirmed_sign_up_does_not_override_an_objection() -> None:
    contact = facts(objection(at=day(-50)), form_grant("newsletter", at=day(-1)))

    found = decision(contact)

    assert not found.allowed
    assert found.rule is Rule.P0_HARD_STOP


def test_withdrawal_then_reconsent_allows_again_only_once_confirmed() -> None:
    first, first_confirmed = confirmed_grant("newsletter", at=day(-100))
    pulled = withdrawal("newsletter", at=day(-50))
    again = form_grant("newsletter", at=day(-2))
    again_confirmed = confirmation(again, at=day(-1))

    pending = decision(facts(first, first_confirmed, pulled, again))
    confirmed = decision(facts(first, first_confirmed, pulled, again, again_confirmed))

    assert not pending.allowed
    assert pending.rule is Rule.P0_HARD_STOP
    assert "not yet valid" in pending.reason
    assert pending.records == (pulled.ref, again.ref)
    assert confirmed.allowed
    assert confirmed.records == (again.ref, again_confirmed.ref)


def test_withdrawal_is_not_undone_by_a_replayed_confirmation() -> None:
    first = form_grant("newsletter", at=day(-100))
    pulled = withdrawal("newsletter", at=day(-50))
    replayed = confirmation(first, at=day(-10))

    assert not decision(facts(first, pulled, replayed)).allowed


def test_withdrawal_is_not_undone_by_a_pre_ticked_box() -> None:
    contact = facts(
        grant("newsletter", at=day(-100)),
        withdrawal("newsletter", at=day(-50)),
        grant("newsletter", at=day(-1), active_act=False),
    )

    assert not decision(contact).allowed


def test_withdrawal_is_not_undone_by_a_consent_from_before_it_arriving_late() -> None:
    late_arrival = grant("newsletter", at=day(-60))
    contact = facts(withdrawal("newsletter", at=day(-50)), late_arrival)

    assert not decision(contact).allowed


def test_reconsent_a_second_after_withdrawal_allows_again() -> None:
    pulled = withdrawal("newsletter", at=day(-5))
    renewed = grant("newsletter", at=pulled.occurred_at + timedelta(seconds=1))

    found = decision(facts(grant("newsletter", at=day(-100)), pulled, renewed))

    assert found.allowed
    assert found.records == (renewed.ref,)


def test_withdrawal_after_reconsent_wins_again() -> None:
    contact = facts(
        grant("newsletter", at=day(-100)),
        withdrawal("newsletter", at=day(-50)),
        grant("newsletter", at=day(-20)),
        withdrawal("newsletter", at=day(-10)),
    )

    assert not decision(contact).allowed
