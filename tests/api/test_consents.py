"""Consent capture over real HTTP: only a ticked box the person ticked; a link's page confirms nothing
until its button is pressed; JSON and plain HTML forms alike; problems name the HTTP field."""

import threading
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser

import pytest
import requests
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import col

from connector.api.app import create_app
from connector.errors import ConfigError
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow
from tests.api.conftest import READ_TOKEN, WRITE_TOKEN, with_sections
from tests.api.serving import served_in_thread

EMAIL = "sign.up@firma.no"
SIGN_UP = {"email": EMAIL, "purposes": ["newsletter"], "notice_version": "web-2026-11", "checkbox": "on"}
FORM_FIELDS = [
    ("email", EMAIL),
    ("purposes", "newsletter"),
    ("purposes", "offers"),
    ("notice_version", "web-2026-11"),
    ("checkbox", "on"),
    ("form_id", "footer"),
]
BASE = "https://consent.firma.no"
BACK_END = {"Authorization": f"Bearer {WRITE_TOKEN}"}


def link_settings(ctx: AppContext, **capture: object) -> AppContext:
    settings = with_sections(
        ctx.settings,
        consent_capture={"confirmation": "link", "public_base_url": BASE, **capture},
        security={"confirmation_key": SecretStr("confirm-key")},
    )
    return replace(ctx, settings=settings)


@pytest.fixture
def link_ctx(api_ctx: AppContext) -> AppContext:
    return link_settings(api_ctx)


@pytest.fixture
def link_url(link_ctx: AppContext) -> Iterator[str]:
    with served_in_thread(create_app(link_ctx)) as url:
        yield url


def _events(ctx: AppContext, action: str) -> int:
    query = select(func.count()).select_from(ConsentEventRow).where(col(ConsentEventRow.action) == action)
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(query).scalar_one())


class Form(HTMLParser):
    """The first form of a page: its action, its fields, and whether it has a real button."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons = 0
        self.lang: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "form" and self.action is None:
            self.action = values.get("action")
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""
        if tag == "button" and values.get("type") == "submit":
            self.buttons += 1


def _signed_up_path(url: str) -> str:
    answer = requests.post(f"{url}/consents", json=SIGN_UP, headers=BACK_END, timeout=10)
    assert answer.status_code == 201, answer.text
    link = answer.json()["confirmation_url"]
    assert link.startswith(f"{BASE}/consents/confirm/")
    return str(link.removeprefix(BASE))


def _press_button(url: str, path: str) -> requests.Response:
    form = Form(requests.get(url + path, timeout=10).text)
    assert form.action is not None
    target = requests.compat.urljoin(url + path, form.action)
    return requests.post(target, data=form.fields, timeout=10)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"checkbox": None}, "checkbox"),
        ({"checkbox": ""}, "checkbox"),
        ({"checkbox_prechecked": True}, "checkbox_prechecked"),
    ],
)
def test_unticked_or_preticked_box_is_refused(
    link_url: str, link_ctx: AppContext, change: dict[str, object], field: str
) -> None:
    answer = requests.post(f"{link_url}/consents", json={**SIGN_UP, **change}, timeout=10)
    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert _events(link_ctx, "given") == 0


def test_a_mail_scanner_following_the_link_confirms_nothing(link_url: str, link_ctx: AppContext) -> None:
    path = _signed_up_path(link_url)
    for _ in range(3):
        page = requests.get(link_url + path, timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
    assert requests.head(link_url + path, timeout=10).status_code in (200, 405)
    assert requests.options(link_url + path, timeout=10).status_code >= 400
    assert _events(link_ctx, "confirmed") == 0
    form = Form(page.text)
    assert form.lang == "en"
    assert form.buttons == 1
    assert set(form.fields) == {"csrf_token"}
    assert "<script" not in page.text
    assert "http" not in page.text.split("<body>")[1]  # no external assets, no links out
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_button_confirms_the_sign_up_once(link_url: str, link_ctx: AppContext) -> None:
    path = _signed_up_path(link_url)
    with unit_of_work(link_ctx.engine) as session:
        given = session.execute(select(ConsentEventRow)).scalar_one()
        assert given.double_opt_in_requested_at is not None
        assert given.active_act
    first = _press_button(link_url, path)
    assert first.status_code == 200
    assert "confirmed" in first.text
    assert "newsletter" in first.text
    again = _press_button(link_url, path)
    assert again.status_code == 200
    assert "already confirmed" in again.text
    assert _events(link_ctx, "confirmed") == 1


@pytest.mark.parametrize("token", ["", "forged", "other-link"])
def test_a_post_without_the_pages_token_confirms_nothing(
    link_url: str, link_ctx: AppContext, token: str
) -> None:
    path = _signed_up_path(link_url)
    if token == "other-link":
        other = _signed_up_path(link_url)
        token = Form(requests.get(link_url + other, timeout=10).text).fields["csrf_token"]
    answer = requests.post(link_url + path, data={"csrf_token": token}, timeout=10)
    assert answer.status_code == 403
    assert requests.post(link_url + path, timeout=10).status_code == 403
    assert _events(link_ctx, "confirmed") == 0


def test_the_pages_token_expires(link_url: str, link_ctx: AppContext) -> None:
    path = _signed_up_path(link_url)
    form = Form(requests.get(link_url + path, timeout=10).text)
    link_ctx.clock.advance(minutes=61)  # type: ignore[attr-defined]
    answer = requests.post(link_url + path, data=form.fields, timeout=10)
    assert answer.status_code == 403
    assert "open the link" in answer.text
    assert _events(link_ctx, "confirmed") == 0
    assert _press_button(link_url, path).status_code == 200  # a fresh page works


def test_concurrent_presses_record_one_confirmation(link_url: str, link_ctx: AppContext) -> None:
    path = _signed_up_path(link_url)
    fields = Form(requests.get(link_url + path, timeout=10).text).fields
    start = threading.Barrier(6)
    answers: list[int] = []

    def press() -> None:
        start.wait()
        answers.append(requests.post(link_url + path, data=fields, timeout=30).status_code)

    threads = [threading.Thread(target=press) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 6
    assert _events(link_ctx, "confirmed") == 1


def test_tampered_or_expired_link_is_404(link_url: str, link_ctx: AppContext) -> None:
    path = _signed_up_path(link_url)
    fields = Form(requests.get(link_url + path, timeout=10).text).fields
    assert requests.get(link_url + path[:-2] + "xx", timeout=10).status_code == 404
    assert requests.post(link_url + path[:-2] + "xx", data=fields, timeout=10).status_code == 404
    link_ctx.clock.advance(hours=73)  # type: ignore[attr-defined]
    page = requests.get(link_url + path, timeout=10)
    assert page.status_code == 404
    assert "invalid or has expired" in page.text
    assert requests.post(link_url + path, data=fields, timeout=10).status_code == 404
    assert _events(link_ctx, "confirmed") == 0


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_plain_html_form_signs_up_and_gets_a_thank_you_page(
    link_url: str, link_ctx: AppContext, encoding: str
) -> None:
    if encoding == "urlencoded":
        answer = requests.post(f"{link_url}/consents", data=FORM_FIELDS, timeout=10)
    else:
        parts = [(name, (None, value)) for name, value in FORM_FIELDS]
        answer = requests.post(f"{link_url}/consents", files=parts, timeout=10)
    assert answer.status_code == 201
    assert answer.headers["content-type"].startswith("text/html")
    assert "Thank you" in answer.text
    assert "/consents/confirm/" not in answer.text  # the link is mailed, never shown to the browser
    with unit_of_work(link_ctx.engine) as session:
        rows = session.execute(select(ConsentEventRow)).scalars().all()
    assert sorted(row.purpose for row in rows) == ["newsletter", "offers"]
    assert {row.ip for row in rows} == {"127.0.0.1"}
    assert all(row.user_agent and row.user_agent.startswith("python-requests") for row in rows)


def test_a_form_post_asking_for_json_gets_json(link_url: str) -> None:
    answer = requests.post(
        f"{link_url}/consents", data=FORM_FIELDS, headers={"Accept": "application/json"}, timeout=10
    )
    assert answer.status_code == 201
    assert answer.json()["confirmation"] == "link"


def test_a_form_post_is_redirected_to_the_configured_thank_you_page(link_ctx: AppContext) -> None:
    ctx = link_settings(link_ctx, thank_you_url="https://www.firma.no/takk")
    with served_in_thread(create_app(ctx)) as url:
        answer = requests.post(f"{url}/consents", data=FORM_FIELDS, allow_redirects=False, timeout=10)
        assert answer.status_code == 303
        assert answer.headers["location"] == "https://www.firma.no/takk"
        json_answer = requests.post(f"{url}/consents", json={**SIGN_UP, "email": "x@firma.no"}, timeout=10)
        assert json_answer.status_code == 201
        assert json_answer.json()["confirmation"] == "link"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": None}, "email"),
        ({"purposes": ["astrology"]}, "purposes"),
        ({"purposes": []}, "purposes"),
        ({"channel": "sms"}, "channel"),
        ({"channel": "pigeon"}, "channel"),
        ({"notice_version": ""}, "notice_version"),
        ({"notice_version": None}, "notice_version"),
    ],
)
def test_problems_name_the_http_field(
    link_url: str, link_ctx: AppContext, change: dict[str, object], field: str
) -> None:
    body = {key: value for key, value in {**SIGN_UP, **change}.items() if value is not None}
    answer = requests.post(f"{link_url}/consents", json=body, timeout=10)
    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert "--" not in answer.json()["detail"]
    fields = [(k, v) for k, vs in body.items() for v in (vs if isinstance(vs, list) else [vs])]
    page = requests.post(f"{link_url}/consents", data=fields, timeout=10)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert f"<strong>{field}</strong>" in page.text
    assert "--" not in page.text.split("<main>")[1]
    assert _events(link_ctx, "given") == 0


def test_an_unreadable_body_names_the_body(link_url: str) -> None:
    answer = requests.post(
        f"{link_url}/consents", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "body"


def test_link_mode_needs_a_key(api_ctx: AppContext) -> None:
    settings = with_sections(api_ctx.settings, consent_capture={"confirmation": "link"})
    with pytest.raises(ConfigError, match="confirmation_key"):
        create_app(replace(api_ctx, settings=settings))


def test_mailchimp_mode_records_and_defers_the_pending_put(client: TestClient, api_ctx: AppContext) -> None:
    """No Mailchimp configured: the sign-up is still recorded; the background task logs its failure."""
    answer = client.post("/consents", json=SIGN_UP)
    assert answer.status_code == 201
    assert answer.json()["confirmation"] == "mailchimp"
    assert answer.json()["confirmation_url"] is None
    assert _events(api_ctx, "given") == 1


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": f"Bearer {READ_TOKEN}"}, {"Authorization": "Bearer x"}]
)
def test_only_the_back_end_sees_the_link(
    link_url: str, link_ctx: AppContext, headers: dict[str, str]
) -> None:
    """A browser script (CORS) that saw the link could confirm for an address it does not own."""
    answer = requests.post(f"{link_url}/consents", json=SIGN_UP, headers=headers, timeout=10)
    assert answer.status_code == 201
    assert answer.json()["confirmation"] == "link"
    assert answer.json()["confirmation_url"] is None
    assert _events(link_ctx, "given") == 1
