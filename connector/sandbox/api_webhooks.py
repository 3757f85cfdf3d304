"""Audience webhooks: create (after a GET check of the URL), list, read, update, delete."""

import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from connector.sandbox import render
from connector.sandbox.assumptions import WEBHOOK_DEFAULT_EVENTS, WEBHOOK_DEFAULT_SOURCES
from connector.sandbox.context import audience_of
from connector.sandbox.problems import ApiProblemError, invalid, not_found
from connector.sandbox.shaping import answer, json_body, links, no_content
from connector.sandbox.state import Audience, WebhookRecord, short_id
from connector.sandbox.webhooks import check_url, is_local_url

router = APIRouter(prefix="/3.0/lists/{list_id}/webhooks")


def _switches(body: dict[str, Any], name: str, known: tuple[str, ...]) -> dict[str, bool]:
    raw = body.get(name)
    if raw is None:
        return dict.fromkeys(known, True)
    if not isinstance(raw, dict):
        raise invalid(name, f"{name} must be an object of booleans")
    return {key: bool(raw.get(key, False)) for key in known}


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def _check_target(request: Request, audience: Audience, url: Any) -> str:
    runtime = request.app.state.runtime
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise invalid("url", "url must be an http(s) URL")
    if not runtime.knobs.allow_remote_webhooks and not is_local_url(url):
        raise invalid(
            "url", "The sandbox only calls loopback or private addresses (see --allow-remote-webhooks)."
        )
    if any(_base(hook.url) == _base(url) for hook in audience.webhooks.values()):
        raise invalid("url", "A webhook with this URL already exists on this audience.")
    status = await run_in_threadpool(check_url, url, runtime.knobs.webhook_timeout_s)
    if status is None or not 200 <= status < 300:
        detail = (
            "We couldn't verify the URL is working. Please double check and try again. "
            f"HTTP Code: {status or 0}"
        )
        raise ApiProblemError(400, "Invalid Resource", detail)
    return url


@router.post("")
async def create_webhook(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    url = await _check_target(request, audience, body.get("url"))
    secret = runtime.knobs.signing_secret or (secrets.token_hex(16) if body.get("signing_enabled") else None)
    with runtime.state.lock:
        hook = WebhookRecord(
            id=short_id("webhook", runtime.state.next_number()),
            url=url,
            events=_switches(body, "events", WEBHOOK_DEFAULT_EVENTS),
            sources=_switches(body, "sources", WEBHOOK_DEFAULT_SOURCES),
            signing_secret=secret,
        )
        audience.webhooks[hook.id] = hook
        document = render.webhook(audience, hook)
    if secret is not None:
        document["signing_secret"] = secret
    return answer(request, document)


@router.get("")
async def list_webhooks(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        documents = [render.webhook(audience, hook) for hook in audience.webhooks.values()]
    return answer(
        request, {"webhooks": documents, "list_id": list_id, "total_items": len(documents), "_links": links()}
    )


def _webhook(audience: Audience, webhook_id: str) -> WebhookRecord:
    found = audience.webhooks.get(webhook_id)
    if found is None:
        raise not_found()
    return found


@router.get("/{webhook_id}")
async def get_webhook(list_id: str, webhook_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        return answer(request, render.webhook(audience, _webhook(audience, webhook_id)))


@router.patch("/{webhook_id}")
async def update_webhook(list_id: str, webhook_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    with runtime.state.lock:
        hook = _webhook(audience, webhook_id)
        if "events" in body:
            hook.events = _switches(body, "events", WEBHOOK_DEFAULT_EVENTS)
        if "sources" in body:
            hook.sources = _switches(body, "sources", WEBHOOK_DEFAULT_SOURCES)
        return answer(request, render.webhook(audience, hook))


@router.delete("/{webhook_id}")
async def delete_webhook(list_id: str, webhook_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        del audience.webhooks[_webhook(audience, webhook_id).id]
    return no_content()
