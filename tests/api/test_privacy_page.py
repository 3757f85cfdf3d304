"""The privacy page over HTTP (TestClient): what it shows, each choice once, and bad input writing nothing."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.services.explain import explain_contact
from connector.services.preference_links import issue_token
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow, ContactRow, ErasureRow, HistoryRow, ObjectionRow
from tests.api.conftest import api_settings, with_sections
from tests.api.privacy_support import with_privacy
from tests.conftest import FakeClock
from tests.sync.support import subscribe, trip

EMAIL = "kari.page@example.no"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def page_ctx(ctx: AppContext, clock: FakeClock, sandbox: SandboxHandle) -> AppContext:
    """The page with its e-mails routed through the sandbox's Transactional (the fresh-link offer needs a
    route: without one the page says so instead, ``test_fresh_link_mail.py``)."""
    local = replace(ctx, settings=api_settings(ctx.settings), clock=clock)
    return with_privacy(local, sandbox)


@pytest.fixture
def web(page_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(page_ctx)) as client:
        yield client


def _token(ctx: AppContext, email: str = EMAIL) -> str:
    with unit_of_work(ctx.engine) as session:
        contact = session.execute(select(ContactRow).where(ContactRow.email == email)).scalar_one()
    return issue_token(ctx.settings, contact.id, ctx.now())


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def _counts(ctx: AppContext) -> tuple[int, int, int, int]:
    with unit_of_work(ctx.engine) as session:
        return (
            session.execute(select(func.count()).select_from(ConsentEventRow)).scalar_one(),
            session.execute(select(func.count()).select_from(ObjectionRow)).scalar_one(),
            session.execute(select(func.count()).select_from(HistoryRow)).scalar_one(),
            session.execute(select(func.count()).select_from(ErasureRow)).scalar_one(),
        )


def test_the_page_shows_the_explanation_and_carries_the_safety_headers(
    page_ctx: AppContext, web: TestClient
) -> None:
    subscribe(page_ctx, EMAIL)
    answer = web.get(f"/me/{_token(page_ctx)}", headers={"Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"})
    assert answer.status_code == 200
    assert '<html lang="nb">' in answer.text
    assert "Dine data og dine valg" in answer.text
    for sentence in explain_contact(page_ctx, EMAIL).sentences:
        assert sentence.replace("'", "&#39;") in answer.text  # the same words as explain
    csp = answer.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "script-src" not in csp  # default-src 'none': no script at all
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "<style" not in answer.text
    assert "<script" not in answer.text
    english = web.get(f"/me/{_token(page_ctx)}?lang=en", headers={"Accept-Language": "nb"})
    assert '<html lang="en">' in english.text
    assert "Your data and your choices" in english.text
    assert web.get("/static/privacy.css").headers["content-type"].startswith("text/css")


def test_withdrawing_twice_records_one_event_with_evidence(page_ctx: AppContext, web: TestClient) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    csrf = _csrf(web.get(f"/me/{token}").text)
    form = {"csrf_token": csrf, "action": "withdraw", "choice": "newsletter:email", "lang": "en"}
    headers = {"User-Agent": "TestBrowser/1.0"}
    first = web.post(f"/me/{token}", data=form, headers=headers, follow_redirects=False)
    assert first.status_code == 303
    before = _counts(page_ctx)
    again = web.post(f"/me/{token}", data=form, headers=headers, follow_redirects=False)
    assert again.status_code == 303
    assert "done_nothing" in again.headers["location"]
    assert _counts(page_ctx) == before
    with unit_of_work(page_ctx.engine) as session:
        last = session.execute(
            select(ConsentEventRow).where(ConsentEventRow.action == "withdrawn")
        ).scalar_one()
    assert (last.source, last.recorded_by, last.user_agent) == ("privacy-page", "person", "TestBrowser/1.0")
    assert last.ip
    assert last.notice_version == "privacy-page-1"
    allowed = {d.purpose for d in explain_contact(page_ctx, EMAIL).entitlement.marketing if d.allowed}
    assert "newsletter" not in allowed


def test_object_to_all_marketing_stops_soft_opt_in_once(page_ctx: AppContext, web: TestClient) -> None:
    trip(page_ctx, EMAIL, departs_in_days=30)
    assert any(d.allowed for d in explain_contact(page_ctx, EMAIL).entitlement.marketing)
    token = _token(page_ctx)
    csrf = _csrf(web.get(f"/me/{token}").text)
    for _ in range(2):
        web.post(f"/me/{token}", data={"csrf_token": csrf, "action": "object_all"}, follow_redirects=False)
    assert _counts(page_ctx)[1] == 1
    assert not any(d.allowed for d in explain_contact(page_ctx, EMAIL).entitlement.marketing)
    assert explain_contact(page_ctx, EMAIL).entitlement.transactional.allowed


def test_a_grant_waits_for_its_double_opt_in(page_ctx: AppContext, web: TestClient) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    page = web.get(f"/me/{token}").text
    assert 'value="offers:email"' in page
    assert "checked" not in page  # never pre-ticked
    form = {"csrf_token": _csrf(page), "action": "grant", "choice": "offers:email"}
    web.post(f"/me/{token}", data=form, follow_redirects=False)
    web.post(f"/me/{token}", data=form, follow_redirects=False)
    with unit_of_work(page_ctx.engine) as session:
        given = (
            session.execute(select(ConsentEventRow).where(ConsentEventRow.purpose == "offers"))
            .scalars()
            .all()
        )
    assert [g.action for g in given] == ["given"]
    assert given[0].double_opt_in_requested_at is not None
    offers = [d for d in explain_contact(page_ctx, EMAIL).entitlement.marketing if d.purpose == "offers"]
    assert not any(d.allowed for d in offers)  # counts once confirmed, not before
    assert "Waiting for your confirmation" in web.get(f"/me/{token}?lang=en").text


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"action": "withdraw", "choice": "newsletter:email", "csrf_token": "forged"}, 403),
        ({"action": "grant", "choice": "no_such_purpose:email"}, 422),
        ({"action": "grant", "choice": "newsletter:pigeon"}, 422),
        ({"action": "launch"}, 422),
        ({"action": "withdraw"}, 422),
    ],
)
def test_bad_forms_get_a_clear_page_and_write_nothing(
    page_ctx: AppContext, web: TestClient, form: dict[str, str], status: int
) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    csrf = _csrf(web.get(f"/me/{token}").text)
    before = _counts(page_ctx)
    answer = web.post(f"/me/{token}", data={"csrf_token": csrf, **form}, follow_redirects=False)
    assert answer.status_code == status
    assert "Nothing was changed" in answer.text
    assert _counts(page_ctx) == before


def test_an_oversize_body_is_refused_unread(page_ctx: AppContext, web: TestClient) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    before = _counts(page_ctx)
    body = "action=object_all&pad=" + "x" * 20_000
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = web.post(f"/me/{token}", content=body, headers=headers)
    assert answer.status_code == 413
    assert _counts(page_ctx) == before


def test_expired_and_tampered_links_reveal_nothing_and_write_nothing(
    page_ctx: AppContext, web: TestClient, clock: FakeClock
) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    csrf = _csrf(web.get(f"/me/{token}").text)
    tampered = web.get(f"/me/{token[:-3]}abc")
    clock.advance(days=200)
    expired = web.get(f"/me/{token}")
    assert tampered.status_code == expired.status_code == 404
    for answer in (tampered, expired):
        assert EMAIL not in answer.text
        assert "Kari" not in answer.text
        assert 'name="email"' in answer.text  # the offer of a fresh link
    before = _counts(page_ctx)
    replay = web.post(f"/me/{token}", data={"csrf_token": csrf, "action": "object_all"})
    assert replay.status_code == 404
    assert web.get(f"/me/{token}/export.json").status_code == 404
    assert _counts(page_ctx) == before


def test_a_fresh_link_answer_is_the_same_whether_or_not_the_address_is_held(
    page_ctx: AppContext, web: TestClient
) -> None:
    subscribe(page_ctx, EMAIL)
    page = web.get("/me/not-a-token").text
    csrf = _csrf(page)
    known = web.post("/me/not-a-token/fresh-link", data={"csrf_token": csrf, "email": EMAIL})
    unknown = web.post("/me/not-a-token/fresh-link", data={"csrf_token": csrf, "email": "nobody@example.no"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text


def test_download_is_the_subject_export_and_erasure_takes_two_steps(
    page_ctx: AppContext, web: TestClient
) -> None:
    subscribe(page_ctx, EMAIL)
    token = _token(page_ctx)
    download = web.get(f"/me/{token}/export.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    document = download.json()
    assert document["contact"]["email"] == EMAIL
    assert {"consent_events", "relationships", "objections", "history", "entitlement"} <= set(document)
    csrf = _csrf(web.get(f"/me/{token}").text)
    ask = web.post(f"/me/{token}/erase", data={"csrf_token": csrf, "step": "ask"})
    assert ask.status_code == 200
    assert _counts(page_ctx)[3] == 0  # the first step erases nothing
    confirm = web.post(f"/me/{token}/erase", data={"csrf_token": _csrf(ask.text), "step": "confirm"})
    assert confirm.status_code == 200
    assert _counts(page_ctx)[3] == 1
    assert web.get(f"/me/{token}").status_code == 404


def test_requests_past_the_limit_per_link_are_refused(page_ctx: AppContext) -> None:
    limited = replace(
        page_ctx, settings=with_sections(page_ctx.settings, preferences={"requests_per_token": 2})
    )
    subscribe(limited, EMAIL)
    token = _token(limited)
    with TestClient(create_app(limited)) as client:
        codes = [client.get(f"/me/{token}").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_without_a_key_there_is_no_page(ctx: AppContext) -> None:
    plain = replace(ctx, settings=api_settings(ctx.settings))
    with TestClient(create_app(plain)) as client:
        answer = client.get("/me/anything")
    assert answer.status_code == 404
    assert "not available" in answer.text


def test_two_concurrent_withdrawals_record_one_event(page_ctx: AppContext) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from connector.services import preferences

    subscribe(page_ctx, EMAIL)
    with unit_of_work(page_ctx.engine) as session:
        contact_id = session.execute(select(ContactRow.id).where(ContactRow.email == EMAIL)).scalar_one()
    act = preferences.Act(page_ctx.now(), "privacy-page-1", "192.0.2.7", "TestBrowser/1.0")
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(
                lambda _: preferences.withdraw(page_ctx, contact_id, ["newsletter:email"], act), range(4)
            )
        )
    assert sum(len(o.consent_events) for o in outcomes) == 1


def test_withdraw_every_consent_leaves_soft_opt_in_to_the_objection(
    page_ctx: AppContext, web: TestClient
) -> None:
    subscribe(page_ctx, EMAIL)
    trip(page_ctx, EMAIL, departs_in_days=30)
    token = _token(page_ctx)
    csrf = _csrf(web.get(f"/me/{token}").text)
    web.post(f"/me/{token}", data={"csrf_token": csrf, "action": "withdraw_all"}, follow_redirects=False)
    allowed = {
        d.purpose: d.basis.value for d in explain_contact(page_ctx, EMAIL).entitlement.marketing if d.allowed
    }
    assert "newsletter" not in allowed
    assert allowed.get("offers") == "existing_customer"
    assert _counts(page_ctx)[1] == 0
