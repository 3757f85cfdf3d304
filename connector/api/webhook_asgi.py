"""``POST /webhooks/mailchimp/{secret}`` as plain ASGI, answered before FastAPI's middleware and routing.

A webhook is the service's hottest call, and the stack in front of a route (error, telemetry and
body-limit middleware, the audit and CORS middleware that never apply to it, the router, the
request/response wrapper) cost about a third of its CPU. :class:`ServiceApp` answers these POSTs
itself, with the same checks, the same bodies and the same statuses as the documented route
(:func:`connector.api.webhooks.receive_webhook`, which the OpenAPI still describes): both call
:func:`connector.api.webhooks.acknowledge`. A 2xx still goes out only after the event's commit.
"""

import json
from typing import cast

from fastapi import FastAPI, HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from connector.api.inbox_writer import InboxWriter
from connector.api.metrics import Metrics
from connector.api.webhooks import acknowledge
from connector.services.context import AppContext

PREFIX = "/webhooks/mailchimp/"
_JSON = [(b"content-type", b"application/json")]
_SIGNATURE = b"x-mailchimp-signature"


class ServiceApp(FastAPI):
    """The service's FastAPI app, with the webhook POST answered ahead of its middleware stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secret = webhook_secret(scope)
        if secret is None:
            await super().__call__(scope, receive, send)
            return
        state = self.state
        writer = cast(InboxWriter, state.inbox_writer)
        ctx, metrics = cast(AppContext, state.ctx), cast(Metrics, state.metrics)
        try:
            status, body = (
                200,
                await acknowledge(ctx, metrics, writer, secret, _signature(scope), _Body(receive)),
            )
        except ClientDisconnect:
            return  # the sender went away before its body came: nothing stored, nobody to answer
        except HTTPException as exc:  # the documented route's error answers, byte for byte
            status, body = exc.status_code, _detail(exc.detail)
        await send({"type": "http.response.start", "status": status, "headers": [*_JSON, _length(body)]})
        await send({"type": "http.response.body", "body": body})


def webhook_secret(scope: Scope) -> str | None:
    """The ``{secret}`` of a ``POST /webhooks/mailchimp/{secret}`` (one path segment), else ``None``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = _route_path(scope)
    if not path.startswith(PREFIX):
        return None
    secret = path[len(PREFIX) :]
    return secret if secret and "/" not in secret else None


def _route_path(scope: Scope) -> str:
    """The path without the ``root_path`` the app is mounted under, as Starlette's router matches it."""
    path, root = cast(str, scope["path"]), cast(str, scope.get("root_path", ""))
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def _signature(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _SIGNATURE:  # ASGI header names are lower-case
            return cast(bytes, value).decode("latin-1")
    return None


class _Body:
    """The request body, read from ``receive`` when called (``ClientDisconnect`` if the sender left)."""

    __slots__ = ("_receive",)

    def __init__(self, receive: Receive) -> None:
        self._receive = receive

    async def __call__(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _detail(detail: str) -> bytes:
    """FastAPI's ``HTTPException`` body (``JSONResponse`` of ``{"detail": …}``)."""
    return json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":")).encode()


def _length(body: bytes) -> tuple[bytes, bytes]:
    return b"content-length", str(len(body)).encode()
