"""The ASGI layer in front of every route: basic auth, the connection limit, injected faults, latency,
the request log, and saving state before a mutating call is answered.

A dropped connection is real: the uvicorn protocol in :mod:`connector.sandbox.server` puts the
connection's transport in :data:`CONNECTION`; the guard aborts it and returns without a response, so the
client sees the socket close with nothing read. (Without that transport, as under a test client, the
guard raises :class:`ConnectionDroppedError` instead.)
"""

import asyncio
import base64
import json
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.sandbox.assumptions import TOO_MANY_REQUESTS_DETAIL, TOO_MANY_REQUESTS_TITLE
from connector.sandbox.faults import Fault
from connector.sandbox.observations import RequestRecord
from connector.sandbox.problems import PROBLEM_MEDIA_TYPE, problem_document
from connector.sandbox.runtime import SandboxRuntime

CONNECTION: ContextVar[asyncio.Transport | None] = ContextVar("sandbox_connection", default=None)
INTERNAL = "sandbox.internal"
"""Scope key marking a call ``/batches`` makes to the app itself: no auth, limit, faults or log."""
API_PREFIX = "/3.0"
TRANSACTIONAL_PREFIXES = ("/api/1.0/", "/api/1.3/")
"""Transactional calls: limit, faults and latency as ``/3.0``; the key is in the body, checked there."""
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLIENT_GONE = 499
"""Recorded status of a call whose client hung up before it was answered (nginx's convention)."""


_TRANSACTIONAL_GENERAL_ERROR = {
    "status": "error",
    "code": -1,
    "name": "GeneralError",
    "message": "An unexpected error occurred processing the request.",
}


class ConnectionDroppedError(Exception):
    """A dropped-connection fault where no transport could be aborted."""


@dataclass
class _Exchange:
    """What the guard learns about one call while it passes through."""

    status: int = 0
    fault: str | None = None
    request_body: bytearray = field(default_factory=bytearray)
    response_body: bytearray = field(default_factory=bytearray)


class ApiGuard:
    def __init__(self, app: ASGIApp, runtime: SandboxRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(INTERNAL):
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        transactional = path.startswith(TRANSACTIONAL_PREFIXES)
        api = path.startswith(API_PREFIX) or transactional
        started = time.perf_counter()
        exchange = _Exchange()
        observations = self.runtime.observations
        if api:
            in_flight = observations.enter()
        try:
            if api:
                await self._api_call(scope, receive, send, exchange, in_flight, transactional)
            else:
                await self._pass(scope, receive, send, exchange)
        finally:
            if api:
                observations.leave()
            self._record(scope, exchange, started)

    async def _api_call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        exchange: _Exchange,
        in_flight: int,
        transactional: bool = False,
    ) -> None:
        knobs = self.runtime.knobs
        if in_flight > knobs.max_connections:
            exchange.fault = "over_limit"
            await _problem(send, exchange, 429, TOO_MANY_REQUESTS_TITLE, TOO_MANY_REQUESTS_DETAIL)
            return
        denial = None if transactional else _auth_problem(scope, knobs.dc, knobs.api_keys)
        if denial is not None:
            await _problem(send, exchange, 401, *denial)
            return
        fault = self.runtime.faults.draw()
        exchange.fault = fault.value if fault else None
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if fault is None or fault is Fault.SLOW:
            if fault is Fault.SLOW:
                await asyncio.sleep(knobs.slow_ms / 1000)
            await self._pass(scope, receive, send, exchange)
        else:
            await _inject(fault, send, exchange, transactional)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        keep_bodies = self.runtime.knobs.log_bodies
        mutating = scope["method"] in MUTATING

        async def receive_logged() -> Message:
            message = await receive()
            if keep_bodies and message["type"] == "http.request":
                exchange.request_body.extend(message.get("body", b""))
            return message

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                if mutating and exchange.status < 500:
                    self.runtime.persist()
            elif message["type"] == "http.response.body" and keep_bodies:
                exchange.response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_logged, send_logged)
        except ClientDisconnect:  # the caller gave up (its timeout) before its body was read: no answer
            exchange.status = CLIENT_GONE

    def _record(self, scope: Scope, exchange: _Exchange, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or str(scope["path"])
        keep = self.runtime.knobs.log_bodies
        record = RequestRecord(
            at=datetime.now(UTC).isoformat(),
            method=str(scope["method"]),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            endpoint=f"{scope['method']} {template}",
            status=exchange.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            fault=exchange.fault,
            request_body=exchange.request_body.decode("utf-8", "replace") if keep else None,
            response_body=exchange.response_body.decode("utf-8", "replace") if keep else None,
        )
        self.runtime.observations.record(record)


def _auth_problem(scope: Scope, dc: str, accepted: tuple[str, ...]) -> tuple[str, str] | None:
    """Basic auth with any user and a key ending in ``-<dc>`` (or a bearer token); else why not.

    With ``accepted`` keys, any other key is refused too. Mailchimp answers a revoked key and a key sent
    to the wrong data centre alike, so both get the same 401.
    """
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return None
    if scheme.lower() != "basic" or not credentials:
        return "API Key Missing", "Your request did not include an API key."
    try:
        key = base64.b64decode(credentials).decode("utf-8").partition(":")[2]
    except ValueError:
        key = ""
    if not key.endswith(f"-{dc}") or len(key) <= len(dc) + 1 or (accepted and key not in accepted):
        return (
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
    return None


async def _problem(send: Send, exchange: _Exchange, status: int, title: str, detail: str) -> None:
    body = json.dumps(problem_document(status, title, detail)).encode()
    await _respond(send, exchange, status, body, PROBLEM_MEDIA_TYPE)


async def _respond(send: Send, exchange: _Exchange, status: int, body: bytes, media_type: str | None) -> None:
    exchange.status = status
    exchange.response_body.extend(body)
    headers = [(b"content-length", str(len(body)).encode())]
    if media_type:
        headers.append((b"content-type", media_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _inject(fault: Fault, send: Send, exchange: _Exchange, transactional: bool = False) -> None:
    if transactional and fault in (Fault.FORBIDDEN, Fault.SERVER_ERROR):
        body = json.dumps(_TRANSACTIONAL_GENERAL_ERROR).encode()
        await _respond(send, exchange, 500, body, "application/json")
    elif fault is Fault.TOO_MANY_REQUESTS:
        await _problem(send, exchange, 429, TOO_MANY_REQUESTS_TITLE, TOO_MANY_REQUESTS_DETAIL)
    elif fault is Fault.FORBIDDEN:
        await _respond(send, exchange, 403, b"", None)
    elif fault is Fault.SERVER_ERROR:
        await _problem(send, exchange, 500, "Internal Server Error", "An unexpected internal error occurred.")
    else:
        await _drop(exchange)


async def _drop(exchange: _Exchange) -> None:
    transport = CONNECTION.get()
    if transport is None:
        raise ConnectionDroppedError("dropped connection (no transport to abort)")
    transport.abort()
    for _ in range(3):  # let the protocol notice, so uvicorn sends no 500 on the dead socket
        await asyncio.sleep(0)
