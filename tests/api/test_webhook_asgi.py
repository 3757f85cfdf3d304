"""The webhook POST's ASGI fast path answers exactly as the documented FastAPI route would."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from connector.api.app import create_app
from connector.api.webhook_asgi import webhook_secret
from connector.services.context import AppContext
from tests.api.conftest import FORM, HOOK, unsubscribe
from tests.conftest import START


@pytest.mark.parametrize(
    ("method", "path", "root", "secret"),
    [
        ("POST", "/webhooks/mailchimp/abc", "", "abc"),
        ("POST", "/api/webhooks/mailchimp/abc", "/api", "abc"),
        ("GET", "/webhooks/mailchimp/abc", "", None),
        ("POST", "/webhooks/mailchimp/", "", None),
        ("POST", "/webhooks/mailchimp/abc/more", "", None),
        ("POST", "/webhooks/mailchimpabc", "", None),
        ("POST", "/admin/runs", "", None),
    ],
)
def test_only_a_webhook_post_takes_the_fast_path(
    method: str, path: str, root: str, secret: str | None
) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": root, "headers": []}
    assert webhook_secret(scope) == secret


@contextmanager
def _both(ctx: AppContext) -> Iterator[tuple[TestClient, TestClient]]:
    """A client of the app (fast path) and one of the same app's FastAPI stack (the documented route)."""
    app = create_app(ctx)

    async def documented(scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    with TestClient(app) as fast, TestClient(documented) as routed:
        yield fast, routed


def test_the_fast_path_answers_byte_for_byte_as_the_documented_route(api_ctx: AppContext) -> None:
    body = unsubscribe("kari.nordmann@firma.no", START)
    calls = [
        ("/webhooks/mailchimp/wrong", body),  # 404
        (HOOK, b"type=nonsense&fired_at=2026-11-23+10%3A00%3A00"),  # 400
        (HOOK, b"not a form"),  # 400
        (HOOK, b""),  # 200 ok
        (HOOK, body),  # 200 applied, then duplicate on the other path
    ]
    with _both(api_ctx) as (fast, routed):
        for path, content in calls:
            first = fast.post(path, content=content, headers=FORM)
            second = routed.post(path, content=content, headers=FORM)
            assert first.status_code == second.status_code
            if content != body or path != HOOK:
                assert first.content == second.content
            assert first.headers["content-type"] == second.headers["content-type"]
        assert first.json() == {"status": "applied"}
        assert second.json() == {"status": "duplicate"}
