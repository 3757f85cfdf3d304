"""The pure parts: Mailchimp's bracket-key bodies, the de-duplication key, effects, signatures, tokens."""

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.api.link_tokens import read_token, sign_token
from connector.core.model import SuppressionReason
from connector.core.signatures import (
    TokenConfigError,
    match_admin_token,
    parse_admin_tokens,
    signature_is_valid,
    token_digest,
    webhook_signature,
)
from connector.core.webhook_events import (
    ChangeAddress,
    Confirm,
    EventType,
    Object,
    PayloadError,
    Rules,
    Suppress,
    UpdateProfile,
    Withdraw,
    effects,
    form_pairs,
    parse_event,
    parse_form,
)
from connector.services.context import AppContext
from tests.api.conftest import event_body, subscribe, unsubscribe

AT = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
RULES = Rules(purposes=("newsletter", "offers"), merge_fields={"FNAME": "first_name"})


def test_bracket_keys_nest() -> None:
    form = parse_form(b"type=profile&data%5Bmerges%5D%5BFNAME%5D=Kari&data%5Bemail%5D=k%40firma.no")
    assert form == {"type": "profile", "data": {"merges": {"FNAME": "Kari"}, "email": "k@firma.no"}}


def test_unsubscribe_parses_into_a_typed_event() -> None:
    event = parse_event(unsubscribe(" Kari@Firma.no ", AT))
    assert event.type is EventType.UNSUBSCRIBE
    assert (event.email, event.list_id, event.campaign_id, event.fired_at) == (
        "kari@firma.no",
        "list0001",
        "cb398d21d2",
        AT,
    )
    assert event.merges["FNAME"] == "Kari"


def test_dedup_key_ignores_field_order_but_not_fired_at() -> None:
    body = unsubscribe("kari@firma.no", AT)
    reordered = b"&".join(reversed(body.split(b"&")))
    assert parse_event(body).dedup_key == parse_event(reordered).dedup_key
    assert (
        parse_event(body).dedup_key
        != parse_event(unsubscribe("kari@firma.no", AT.replace(minute=31))).dedup_key
    )


FORM_TEXT = st.text(alphabet=st.sampled_from("&=+%[]5BDa0fF@ .æ€\x80C3A6E2820"), max_size=40)
"""Percent escapes that decode to whole, partial and stray UTF-8 bytes next to raw non-ASCII text."""


@settings(max_examples=500)
@given(FORM_TEXT)
def test_form_pairs_read_and_refuse_exactly_what_parse_qsl_does(text: str) -> None:
    try:
        expected: list[tuple[str, str]] | None = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        expected = None
    try:
        found: list[tuple[str, str]] | None = form_pairs(text.encode("utf-8"))
    except PayloadError:
        found = None
    assert found == expected


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(PayloadError):
        form_pairs(b"type=profile&data%5Bemail%5D=\xff")


@pytest.mark.parametrize(
    "body", [b"type=party&fired_at=2026-11-20+08%3A30%3A00", b"type=unsubscribe&fired_at=yesterday", b"%%%"]
)
def test_bad_bodies_name_the_problem(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_event(body)


def test_effects_per_event_type() -> None:
    unsub = parse_event(unsubscribe("kari@firma.no", AT))
    assert effects(unsub, RULES, AT) == (
        Withdraw(("newsletter", "offers"), AT, "mailchimp unsubscribe, campaign cb398d21d2"),
    )
    objecting = Rules(RULES.purposes, RULES.merge_fields, unsubscribe_means="objection")
    assert isinstance(effects(unsub, objecting, AT)[0], Object)
    spam = effects(parse_event(unsubscribe("kari@firma.no", AT, reason="abuse")), RULES, AT)
    assert isinstance(spam[0], Object)
    assert spam[1] == Suppress(SuppressionReason.COMPLAINED)
    cleaned = parse_event(event_body("cleaned", AT, email="kari@firma.no", list_id="l"))
    assert effects(cleaned, RULES, AT) == (Suppress(SuppressionReason.CLEANED),)
    moved = parse_event(event_body("upemail", AT, old_email="a@firma.no", new_email="b@firma.no"))
    assert effects(moved, RULES, AT) == (ChangeAddress("a@firma.no", "b@firma.no"),)
    profile = parse_event(event_body("profile", AT, email="a@firma.no", merges__FNAME="Ola", merges__X="y"))
    assert effects(profile, RULES, AT) == (UpdateProfile({"first_name": "Ola"}),)
    signup = effects(parse_event(subscribe("a@firma.no", AT)), RULES, AT)
    assert signup == (Confirm(("newsletter", "offers"), AT, "10.20.10.30", trusted=False),)
    assert effects(parse_event(event_body("campaign", AT, id="c1", list_id="l")), RULES, AT) == ()


def test_an_admin_delete_is_not_an_opt_out() -> None:
    deleted = parse_event(event_body("unsubscribe", AT, action="delete", reason="manual", email="a@firma.no"))
    assert effects(deleted, RULES, AT) == ()


def test_signature_checks_body_secret_and_freshness() -> None:
    body = b"type=unsubscribe"
    header = f"t=1000,v1={webhook_signature('s', 1000, body)}"
    assert signature_is_valid(header, "s", body, now=1100, tolerance=300)
    assert not signature_is_valid(header, "s", body + b"x", now=1100, tolerance=300)
    assert not signature_is_valid(header, "other", body, now=1100, tolerance=300)
    assert not signature_is_valid(header, "s", body, now=2000, tolerance=300)
    assert not signature_is_valid("garbage", "s", body, now=1000, tolerance=300)
    assert not signature_is_valid(None, "s", body, now=1000, tolerance=300)


def test_admin_tokens_match_by_digest() -> None:
    tokens = parse_admin_tokens(f"ops:write:{token_digest('a')}, viewer:read:{token_digest('b')}")
    found = match_admin_token("b", tokens)
    assert found is not None
    assert (found.name, found.scope) == ("viewer", "read")
    assert match_admin_token("c", tokens) is None
    with pytest.raises(TokenConfigError):
        parse_admin_tokens("ops:admin:abc")


def test_signed_tokens_expire_and_resist_tampering() -> None:
    token = sign_token(b"k", {"c": "x", "exp": 100})
    assert read_token(b"k", token, now=50) == {"c": "x", "exp": 100}
    assert read_token(b"k", token, now=101) is None
    assert read_token(b"other", token, now=50) is None
    assert read_token(b"k", "A" + token, now=50) is None


def test_links_signed_before_itsdangerous_still_read() -> None:
    """The hand-rolled format the links had: ``b64url(JSON sorted, compact).b64url(HMAC-SHA256)``."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    data = b64(
        json.dumps({"c": "x", "exp": 100, "g": ["e1"]}, separators=(",", ":"), sort_keys=True).encode()
    )
    old = f"{data}.{b64(hmac.new(b'k', data.encode(), hashlib.sha256).digest())}"
    assert read_token(b"k", old, now=50) == {"c": "x", "exp": 100, "g": ["e1"]}
    assert read_token(b"k", old, now=101) is None
    assert read_token(b"other", old, now=50) is None


def test_a_fired_at_far_in_the_future_takes_effect_at_receive_time(
    client: TestClient, api_ctx: AppContext
) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from connector.store.engine import unit_of_work
    from connector.store.tables import ConsentEventRow
    from tests.api.conftest import FORM, HOOK, consented, unsubscribe

    email = "clock.ahead@firma.no"
    now = api_ctx.now()
    consented(api_ctx, email, at=now - timedelta(days=1))
    answer = client.post(HOOK, content=unsubscribe(email, now + timedelta(hours=3)), headers=FORM)
    assert answer.status_code == 200
    with unit_of_work(api_ctx.engine) as session:
        rows = session.execute(select(ConsentEventRow).where(ConsentEventRow.action == "withdrawn")).scalars()
        withdrawn = [row.occurred_at.replace(tzinfo=None) for row in rows]
    assert withdrawn
    assert all(at == now.replace(tzinfo=None) for at in withdrawn)


def test_the_sandbox_sends_fired_at_as_mailchimp_does_and_we_read_it_as_utc() -> None:
    from datetime import timedelta, timezone

    from connector.core.webhook_events import parse_fired_at
    from connector.sandbox.webhook_events import fired_at_text

    moment = datetime(2026, 12, 7, 1, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    text = fired_at_text(moment)
    assert text == "2026-12-07 00:30:05"
    assert parse_fired_at(text) == moment
