"""The personal link: signed, expiring, rotatable, stable within a period; carried to Mailchimp."""

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.contacts import require_contact
from connector.services.context import AppContext
from connector.services.preference_links import issue_token, link_url, read_token
from connector.store.engine import unit_of_work
from connector.sync.run import plan_audience, sync_audience
from tests.api.conftest import with_sections
from tests.api.privacy_support import OLD_KEY, sandbox, synced, with_privacy
from tests.conftest import START
from tests.sync.support import list_id, subscribe

__all__ = ["sandbox", "synced"]  # the module's fixtures


def test_a_token_names_its_contact_until_it_expires(ctx: AppContext) -> None:
    settings = with_privacy(ctx).settings
    token = issue_token(settings, "c-1", START)
    assert read_token(settings, token, START).contact_id == "c-1"
    assert read_token(settings, token, START + timedelta(days=89)).valid
    late = read_token(settings, token, START + timedelta(days=200))
    assert late.expired
    assert not late.valid


@given(st.integers(min_value=0, max_value=365 * 24))
def test_a_link_mailed_at_any_hour_works_90_days_and_is_the_same_all_period(hours: int) -> None:
    from connector.settings import load_settings

    settings = with_sections(
        load_settings(None), security={"preferences_key": SecretStr("k" * 32)}, preferences={}
    )
    moment = START + timedelta(hours=hours)
    token = issue_token(settings, "c-1", moment)
    assert read_token(settings, token, moment + timedelta(days=90)).valid
    issued = {issue_token(settings, "c-1", moment + timedelta(days=d)) for d in range(0, 60)}
    assert len(issued) <= 3  # once a 30-day period, not once a sync


def test_tampered_or_foreign_tokens_are_invalid(ctx: AppContext) -> None:
    settings = with_privacy(ctx).settings
    token = issue_token(settings, "c-1", START)
    for bad in (token[:-2] + "xx", "c-1", "", "a" * 1000, token.replace(".", "")):
        assert read_token(settings, bad, START).contact_id is None


def test_rotation_accepts_links_signed_with_the_previous_key(ctx: AppContext) -> None:
    settings = with_privacy(ctx).settings
    before = with_sections(settings, security={"preferences_key": SecretStr(OLD_KEY)})
    old = issue_token(before, "c-1", START)
    assert read_token(settings, old, START).contact_id == "c-1"
    assert issue_token(settings, "c-1", START) != old  # new links: the new key
    without = with_sections(settings, security={"preferences_previous_keys": None})
    assert read_token(without, old, START).contact_id is None


def test_sync_carries_the_link_in_a_merge_field_and_the_next_sync_changes_nothing(
    synced: tuple[AppContext, MailchimpGateway],
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari.link@example.no")
    assert sync_audience(ctx, gateway, "main").applied.rejected == 0
    member = gateway.get_member(list_id(ctx), subscriber_hash("kari.link@example.no"))
    assert member is not None
    url = dict(member.merge_fields)["PREFS_URL"]
    assert url.startswith("https://privacy.example.no/me/")
    assert read_token(ctx.settings, url.rsplit("/", 1)[1], ctx.now()).valid
    assert len(plan_audience(ctx, "main", full=True).plan) == 0
    later = replace(ctx, clock=lambda: ctx.now() + timedelta(days=1))
    assert len(plan_audience(later, "main", full=True).plan) == 0  # stable: no churn at the next run
    rolled = replace(ctx, clock=lambda: ctx.now() + timedelta(days=31))
    assert len(plan_audience(rolled, "main").plan) == 1  # a new period: unchanged members get new links
    fields = {f.tag for f in gateway.merge_fields(list_id(ctx))}
    assert "PREFS_URL" in fields
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, "kari.link@example.no")
    assert url == link_url(ctx.settings, contact.id, ctx.now())


def test_a_link_never_reaches_a_log(ctx: AppContext) -> None:
    from connector.logs import redact_text

    url = link_url(with_privacy(ctx).settings, "c-1", START)
    assert redact_text(f"GET {url} 200") == "GET https://privacy.example.no/me/<token> 200"


@given(st.uuids(), st.integers(min_value=0, max_value=3650))
def test_the_sync_s_fast_links_are_exactly_itsdangerous_tokens(contact: object, days: int) -> None:
    from connector.services.preference_links import link_maker
    from connector.settings import load_settings

    settings = with_sections(
        load_settings(None), security={"preferences_key": SecretStr("k" * 32)}, preferences={}
    )
    moment = START + timedelta(days=days)
    assert link_maker(settings, moment)(str(contact)) == link_url(settings, str(contact), moment)
