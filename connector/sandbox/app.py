"""``create_app(state, knobs)``: the sandbox's FastAPI app, Mailchimp Marketing API v3 under ``/3.0`` and
Mailchimp Transactional 1.x under ``/api/1.0`` (:mod:`connector.sandbox.transactional_api`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from connector.sandbox import (
    api_batches,
    api_campaigns,
    api_journeys,
    api_lists,
    api_members,
    api_sandbox,
    api_segments,
    api_tags,
    api_webhooks,
    transactional_api,
    transactional_sandbox,
)
from connector.sandbox.account import account_document
from connector.sandbox.batches import BatchRunner
from connector.sandbox.faults import resolve_seed
from connector.sandbox.guard import ApiGuard
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.problems import ApiProblemError, problem_response
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.state import SandboxState

log = structlog.get_logger("connector.sandbox")
_STATUS_TITLES = {404: "Resource Not Found", 405: "Method Not Allowed"}


def create_app(state: SandboxState, knobs: SandboxKnobs, *, seed: int | None = None) -> FastAPI:
    """The app; ``app.state.runtime`` holds the running sandbox (its seed, observations, workers)."""
    runtime = SandboxRuntime(state, knobs, seed if seed is not None else resolve_seed(knobs))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="consent-sync Mailchimp sandbox",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.state.batches = BatchRunner(runtime)
    runtime.app = app
    _install_handlers(app)
    app.add_api_route("/3.0/ping", ping, methods=["GET"])
    app.add_api_route("/3.0/", api_root, methods=["GET"])
    for module in (api_lists, api_members, api_tags, api_segments, api_webhooks, api_batches, api_sandbox):
        app.include_router(module.router)
    for extra in (api_journeys, transactional_api, transactional_sandbox):
        app.include_router(extra.router)
    app.include_router(api_campaigns.router)
    app.include_router(api_campaigns.sandbox_router)
    app.add_middleware(ApiGuard, runtime=runtime)
    return app


async def ping() -> Response:
    return JSONResponse({"health_status": "Everything's Chimpy!"})


async def api_root(request: Request) -> Response:
    """The account behind the key (``GET /``); its links name the data centre, as Mailchimp's do."""
    runtime: SandboxRuntime = request.app.state.runtime
    return JSONResponse(account_document(runtime))


def _install_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, problem: Exception) -> Response:
        assert isinstance(problem, ApiProblemError)
        return problem_response(problem.status, problem.title, problem.detail, problem.errors)

    async def on_http(_: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        title = _STATUS_TITLES.get(error.status_code, "Bad Request")
        return problem_response(error.status_code, title, str(error.detail))

    async def on_validation(_: Request, error: Exception) -> Response:
        return problem_response(400, "Invalid Resource", "The resource submitted could not be validated.")

    async def on_crash(_: Request, error: Exception) -> Response:
        log.exception("sandbox.crash", error=type(error).__name__)
        return problem_response(500, "Internal Server Error", "An unexpected internal error occurred.")

    app.add_exception_handler(ApiProblemError, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_crash)
