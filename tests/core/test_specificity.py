"""Which purposes an act covers (pure): named acts, generic rows, Mailchimp groups by id and by name."""

from datetime import UTC, datetime
from urllib.parse import urlencode

from connector.core.policy_settings import PolicySettings, PurposeSettings
from connector.core.specificity import InterestMapping, Ticked, generic, mailchimp_sign_up, named
from connector.core.webhook_events import Confirm, Rules, effects, parse_event

POLICY = PolicySettings()
AUDIENCE = ("newsletter", "offers", "partner_offers")
MAPPED = (
    InterestMapping(purpose="newsletter", interest_id="a1", category="Interests", interest="Newsletter"),
    InterestMapping(
        purpose="partner_offers", interest_id="b2", category="Interests", interest="Partner offers"
    ),
)


def test_partner_offers_and_purposes_with_recipients_are_explicit_only_by_default() -> None:
    assert POLICY.purpose("partner_offers").explicit_only  # type: ignore[union-attr]
    assert not POLICY.purpose("newsletter").explicit_only  # type: ignore[union-attr]
    assert PurposeSettings(name="travel", label="Travel", recipients=("Hotels AS",)).explicit_only
    assert not PurposeSettings(name="partner_offers", label="P", explicit_only=False).explicit_only


def test_a_named_act_covers_what_it_names_and_a_generic_one_never_an_explicit_purpose() -> None:
    assert named(("partner_offers",)).granted == ("partner_offers",)
    coverage = generic(AUDIENCE, POLICY, "a row without a purpose column")
    assert coverage.granted == ("newsletter", "offers")
    assert [p for p, _ in coverage.not_covered] == ["partner_offers"]


def test_mailchimp_groups_by_id_or_by_name_grant_exactly_what_was_ticked() -> None:
    by_id = mailchimp_sign_up(
        AUDIENCE, POLICY, MAPPED, ("newsletter",), Ticked.from_interests({"a1": False, "b2": True})
    )
    assert by_id.granted == ("partner_offers",)
    by_name = Ticked.from_groups([("interests", " partner OFFERS ,newsletter")])
    assert mailchimp_sign_up(AUDIENCE, POLICY, MAPPED, (), by_name).granted == (
        "newsletter",
        "partner_offers",
    )
    unknown = mailchimp_sign_up(AUDIENCE, POLICY, MAPPED, ("newsletter", "partner_offers"), None)
    assert unknown.granted == ("newsletter",)  # mailchimp_signup_purposes never grants an explicit_only one


def test_a_subscribe_webhook_reads_groupings_and_flat_interests() -> None:
    rules = Rules(purposes=AUDIENCE, merge_fields={}, trust_signup_forms=True, interests=MAPPED)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for groups in (
        {
            "data[merges][GROUPINGS][0][name]": "Interests",
            "data[merges][GROUPINGS][0][groups]": "Partner offers",
        },
        {"data[merges][INTERESTS]": "Partner offers"},
    ):
        body = urlencode(
            {"type": "subscribe", "fired_at": "2026-03-01 10:00:00", "data[email]": "a@b.no", **groups}
        )
        (found,) = effects(parse_event(body.encode()), rules, at)
        assert isinstance(found, Confirm)
        assert found.coverage.granted == ("partner_offers",)
    bare = urlencode({"type": "subscribe", "fired_at": "2026-03-01 10:00:00", "data[email]": "a@b.no"})
    (found,) = effects(parse_event(bare.encode()), rules, at)
    assert isinstance(found, Confirm)
    assert found.coverage.granted == ("newsletter",)
