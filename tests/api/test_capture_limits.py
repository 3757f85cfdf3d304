"""Rate limits of public sign-ups over real HTTP: per client IP and per address, kept in the database, so
they hold across workers and restarts; a trusted proxy header counts only when configured."""

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from connector.api.app import create_app
from connector.services.context import AppContext
from connector.store.capture_tables import CaptureLimitRow
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow
from tests.api.conftest import with_sections
from tests.api.serving import served_in_thread

SIGN_UP = {"purposes": ["newsletter"], "notice_version": "web-2026-11", "checkbox": "on"}


def capture_ctx(ctx: AppContext, **capture: object) -> AppContext:
    return replace(ctx, settings=with_sections(ctx.settings, consent_capture=capture))


@pytest.fixture
def url(api_ctx: AppContext) -> Iterator[str]:
    with served_in_thread(create_app(api_ctx)) as root:
        yield root


def _sign_up(root: str, email: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{root}/consents", json={**SIGN_UP, "email": email}, headers=headers, timeout=30)


def _grants(ctx: AppContext) -> int:
    query = select(func.count()).select_from(ConsentEventRow).where(col(ConsentEventRow.action) == "given")
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(query).scalar_one())


def test_an_ip_gets_ten_sign_ups_per_ten_minutes(url: str, api_ctx: AppContext) -> None:
    for n in range(10):
        assert _sign_up(url, f"person{n}@firma.no").status_code == 201
    refused = _sign_up(url, "person10@firma.no")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "600"
    assert refused.json()["field"] == "ip"
    assert "too many sign-ups" in refused.json()["detail"]
    assert _grants(api_ctx) == 10
    api_ctx.clock.advance(minutes=4)  # type: ignore[attr-defined]
    assert _sign_up(url, "person10@firma.no").headers["retry-after"] == "360"
    api_ctx.clock.advance(minutes=6)  # type: ignore[attr-defined]
    assert _sign_up(url, "person10@firma.no").status_code == 201


def test_an_address_gets_three_confirmations_a_day_whoever_asks(api_ctx: AppContext) -> None:
    ctx = capture_ctx(api_ctx, client_ip_header="X-Forwarded-For")
    with served_in_thread(create_app(ctx)) as root:
        for n in range(3):
            forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
            assert _sign_up(root, "target@firma.no", forwarded).status_code == 201
        refused = _sign_up(root, "Target@Firma.no", {"X-Forwarded-For": "198.51.100.9"})
        assert refused.status_code == 429
        assert refused.json()["field"] == "email"
        assert int(refused.headers["retry-after"]) == 24 * 3600
        form = {**SIGN_UP, "email": "target@firma.no"}
        page = requests.post(
            f"{root}/consents", data=form, headers={"X-Forwarded-For": "198.51.100.10"}, timeout=10
        )
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert "too many confirmation e-mails" in page.text
        assert "retry-after" in page.headers
    assert _grants(api_ctx) == 3


def test_the_limits_hold_across_workers_and_restarts(api_ctx: AppContext) -> None:
    with served_in_thread(create_app(api_ctx)) as one, served_in_thread(create_app(api_ctx)) as two:
        for n in range(5):
            assert _sign_up(one, f"a{n}@firma.no").status_code == 201
            assert _sign_up(two, f"b{n}@firma.no").status_code == 201
        assert _sign_up(two, "c@firma.no").status_code == 429
    with served_in_thread(create_app(api_ctx)) as restarted:
        assert _sign_up(restarted, "c@firma.no").status_code == 429
    with unit_of_work(api_ctx.engine) as session:
        keys = [row.key for row in session.execute(select(CaptureLimitRow)).scalars()]
    assert all("@" not in key and "127.0.0.1" not in key for key in keys)  # keyed hashes only


def test_a_forwarded_header_is_ignored_unless_configured(url: str) -> None:
    for n in range(10):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert _sign_up(url, f"spoof{n}@firma.no", spoofed).status_code == 201
    assert _sign_up(url, "spoof10@firma.no", {"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_a_configured_proxy_header_counts_its_last_entry(api_ctx: AppContext) -> None:
    ctx = capture_ctx(api_ctx, client_ip_header="X-Forwarded-For", sign_ups_per_ip=2)
    with served_in_thread(create_app(ctx)) as root:
        # The client may send any X-Forwarded-For; the proxy appends the address it saw, last.
        for n in range(2):
            chain = {"X-Forwarded-For": f"10.9.9.{n}, 192.0.2.7"}
            assert _sign_up(root, f"p{n}@firma.no", chain).status_code == 201
        assert _sign_up(root, "p2@firma.no", {"X-Forwarded-For": "10.9.9.9, 192.0.2.7"}).status_code == 429
        assert _sign_up(root, "p3@firma.no", {"X-Forwarded-For": "192.0.2.8"}).status_code == 201


def test_concurrent_sign_ups_for_one_address_start_three_confirmations(api_ctx: AppContext) -> None:
    ctx = capture_ctx(api_ctx, sign_ups_per_ip=0)
    with served_in_thread(create_app(ctx)) as root:
        start = threading.Barrier(12)
        answers: list[int] = []

        def sign_up() -> None:
            start.wait()
            answers.append(_sign_up(root, "busy@firma.no").status_code)

        threads = [threading.Thread(target=sign_up) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == [201] * 3 + [429] * 9
    assert _grants(api_ctx) == 3


def test_a_refused_problem_counts_nothing(url: str) -> None:
    for _ in range(12):
        assert requests.post(f"{url}/consents", json={"email": "x@firma.no"}, timeout=10).status_code == 422
    assert _sign_up(url, "x@firma.no").status_code == 201
