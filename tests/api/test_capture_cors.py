"""CORS over real HTTP: the configured origins may call the capture routes from a browser; no other origin
may, and no other route (admin, webhooks) ever answers with CORS headers."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from connector.api.app import create_app
from connector.services.context import AppContext
from tests.api.conftest import HOOK, with_sections
from tests.api.serving import served_in_thread

ALLOWED = "https://www.firma.no"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture
def url(api_ctx: AppContext) -> Iterator[str]:
    settings = with_sections(api_ctx.settings, consent_capture={"allowed_origins": (ALLOWED,)})
    with served_in_thread(create_app(replace(api_ctx, settings=settings))) as root:
        yield root


def _preflight(root: str, path: str, origin: str) -> requests.Response:
    return requests.options(root + path, headers={**PREFLIGHT, "Origin": origin}, timeout=10)


def test_a_configured_origin_may_post_a_sign_up(url: str) -> None:
    answer = _preflight(url, "/consents", ALLOWED)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers
    body = {"email": "cors@firma.no", "purposes": ["newsletter"], "notice_version": "n1", "checkbox": "on"}
    posted = requests.post(f"{url}/consents", json=body, headers={"Origin": ALLOWED}, timeout=10)
    assert posted.status_code == 201
    assert posted.headers["access-control-allow-origin"] == ALLOWED


def test_another_origin_gets_no_cors(url: str) -> None:
    answer = _preflight(url, "/consents", "https://evil.example.org")
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers
    posted = requests.post(
        f"{url}/consents", json={}, headers={"Origin": "https://evil.example.org"}, timeout=10
    )
    assert "access-control-allow-origin" not in posted.headers


@pytest.mark.parametrize("path", ["/admin/runs", "/admin/sync", HOOK, "/metrics", "/healthz"])
def test_no_other_route_answers_cors_even_to_a_configured_origin(url: str, path: str) -> None:
    answer = _preflight(url, path, ALLOWED)
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)
    plain = requests.get(url + path, headers={"Origin": ALLOWED}, timeout=10)
    assert not any(name.lower().startswith("access-control-") for name in plain.headers)


def test_without_configured_origins_nothing_answers_cors(api_ctx: AppContext) -> None:
    with served_in_thread(create_app(api_ctx)) as root:
        answer = _preflight(root, "/consents", ALLOWED)
    assert "access-control-allow-origin" not in answer.headers
