"""Admin bearer tokens (stored as SHA-256, compared in constant time) and the audit of every admin call."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, cast

import structlog
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from connector.api.deps import app_context, app_metrics
from connector.core.signatures import AdminToken, Scope, match_admin_token
from connector.services.context import AppContext, Origin
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminAuditRow

log = structlog.get_logger("connector.api.audit")
bearer = HTTPBearer(auto_error=False, description="An admin token (`consent-sync admin token create`).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None, scope: Scope) -> str:
    tokens = cast(tuple[AdminToken, ...], request.app.state.admin_tokens)
    token = match_admin_token(credentials.credentials, tokens) if credentials else None
    if token is None:
        raise HTTPException(401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
    request.state.admin_actor, request.state.admin_scope = token.name, token.scope
    if scope == "write" and token.scope != "write":
        raise HTTPException(403, f"token {token.name!r} is read-only; this endpoint needs scope 'write'")
    return token.name


def reader(request: Request, credentials: Credentials) -> Origin:
    return Origin(actor=f"admin:{_authenticate(request, credentials, 'read')}", source="admin-api")


def writer(request: Request, credentials: Credentials) -> Origin:
    return Origin(actor=f"admin:{_authenticate(request, credentials, 'write')}", source="admin-api")


class AdminAudit:
    """ASGI middleware: :func:`audit_admin_calls` around ``/admin`` calls; every other call passes straight
    through (the request/response wrapping of an ``http`` middleware costs a webhook call ~20 % of its CPU).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._audited = BaseHTTPMiddleware(app, dispatch=audit_admin_calls)

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/admin"):
            await self._audited(scope, receive, send)
        else:
            await self._app(scope, receive, send)


async def audit_admin_calls(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: an ``admin_audit`` row and a log line for every ``/admin`` call (route, never the path)."""
    if not request.url.path.startswith("/admin"):
        return await call_next(request)
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    actor = getattr(request.state, "admin_actor", "anonymous")
    scope = getattr(request.state, "admin_scope", "none")
    app_metrics(request).admin_calls.labels(route, str(response.status_code)).inc()
    log.info("admin.called", actor=actor, method=request.method, route=route, status=response.status_code)
    ctx = app_context(request)
    await run_in_threadpool(
        _record, ctx, ctx.now(), actor, scope, request.method, route, response.status_code
    )
    return response


def _record(
    ctx: AppContext, at: datetime, actor: str, scope: str, method: str, route: str, status: int
) -> None:
    row = AdminAuditRow(at=at, actor=actor, scope=scope, method=method, route=route, status=status)
    try:
        with unit_of_work(ctx.engine) as session:
            session.add(row)
    except SQLAlchemyError as exc:  # the answer is already decided; the failure is logged
        log.error("admin.audit_failed", error=type(exc).__name__)
