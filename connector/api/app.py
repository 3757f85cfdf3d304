"""The FastAPI app of ``consent-sync serve``, built from an :class:`AppContext` (the composition root's)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from connector.api import (
    admin,
    admin_notices,
    consents,
    health,
    preferences,
    transactional_webhooks,
    webhooks,
)
from connector.api.admin_runs import RunWorker
from connector.api.auth import AdminAudit
from connector.api.capture import confirmation_key
from connector.api.capture_cors import CaptureCors
from connector.api.inbox_writer import InboxWriter
from connector.api.metrics import build_metrics
from connector.api.webhook_asgi import ServiceApp
from connector.console.web import router as console_router
from connector.core.signatures import TokenConfigError, parse_admin_tokens
from connector.doctor import diagnose_mailchimp
from connector.doctor.cache import DoctorCache
from connector.errors import ConfigError, ConsentSyncError, InputError, NotFoundError
from connector.services.context import AppContext

DOCS_ASSETS = "/docs-assets"
"""Where the app serves Swagger UI's and ReDoc's files (bundled with ``fastapi-offline``)."""


def create_app(ctx: AppContext, doctor: DoctorCache | None = None) -> FastAPI:
    """Webhooks, admin API, consent capture, health and metrics; ``ConfigError`` on bad settings.

    ``doctor``: the cache of configuration checks ``/readyz`` shows (default: checks of ``ctx.settings``).
    """
    worker = RunWorker(ctx)
    metrics = build_metrics(ctx)
    inbox_writer = InboxWriter(ctx, metrics, window=ctx.settings.webhooks.batch_window_ms / 1000)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        yield
        worker.shutdown()
        inbox_writer.stop()

    app = FastAPIOffline(  # /docs and /redoc with their scripts and styles served by the app, not a CDN
        static_url=DOCS_ASSETS,
        title="consent-sync",
        summary="Mailchimp webhooks, the admin API and consent capture of the consent store.",
        lifespan=lifespan,
    )
    app.__class__ = ServiceApp  # the webhook POST answered ahead of the middleware stack (webhook_asgi.py)
    app.state.ctx = ctx
    app.state.metrics = metrics
    app.state.admin_tokens = _admin_tokens(ctx)
    app.state.run_worker = worker
    app.state.inbox_writer = inbox_writer
    app.state.doctor = doctor or DoctorCache(lambda: diagnose_mailchimp(ctx.settings))
    if ctx.settings.consent_capture.confirmation == "link":
        confirmation_key(ctx)  # refuse to start without the key
    if ctx.settings.consent_capture.audience is not None:
        ctx.settings.audience(ctx.settings.consent_capture.audience)  # refuse an unknown audience
    routers = (webhooks.router, transactional_webhooks.router, admin.router, admin_notices.router)
    for router in (*routers, consents.router, preferences.router, health.router, console_router):
        app.include_router(router)
    app.add_middleware(AdminAudit)
    app.add_middleware(CaptureCors, origins=ctx.settings.consent_capture.allowed_origins)
    app.add_exception_handler(ConsentSyncError, _error_answer)  # type: ignore[arg-type]
    return app


def _admin_tokens(ctx: AppContext) -> object:
    tokens = ctx.settings.admin.tokens
    try:
        return parse_admin_tokens(tokens.get_secret_value()) if tokens is not None else ()
    except TokenConfigError as exc:
        raise ConfigError(str(exc)) from None


async def _error_answer(_request: Request, exc: ConsentSyncError) -> JSONResponse:
    """Our errors as answers: 404 for unknown records, 422 naming the field, 400 for configuration."""
    if isinstance(exc, NotFoundError):
        return JSONResponse({"detail": exc.reason, "field": exc.where}, status_code=404)
    if isinstance(exc, InputError):
        return JSONResponse({"detail": exc.reason, "field": exc.where}, status_code=422)
    if isinstance(exc, ConfigError):
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return JSONResponse({"detail": str(exc)}, status_code=409)
