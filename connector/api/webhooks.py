"""``GET|POST /webhooks/mailchimp/{secret}``: verify, then de-duplicate, apply and record in one transaction.

The event is handed to the inbox writer, which commits it with the events queued alongside it (group
commit: its inbox row and its effect always in the same transaction). A 2xx is sent only after that
commit; an event that could not be stored answers 503 so Mailchimp retries. Refusals store nothing and
log a line without personal data.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, cast

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from connector.api.deps import app_context, app_metrics, problem
from connector.api.inbox import Delivery, Intake
from connector.api.inbox_writer import InboxWriter
from connector.api.metrics import Metrics
from connector.core.signatures import same_secret, signature_is_valid
from connector.core.webhook_events import PayloadError, WebhookEvent, parse_event
from connector.services.context import AppContext

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger("connector.api.webhooks")
PATH = "/webhooks/mailchimp/{secret}"


class WebhookAnswer(BaseModel):
    """``ok``: nothing to do (URL check, empty body); ``applied``/``recorded``: stored; ``duplicate``."""

    status: Literal["ok", "applied", "recorded", "duplicate"]


Ctx = Annotated[AppContext, Depends(app_context)]
Found = Annotated[Metrics, Depends(app_metrics)]


@router.get(PATH, response_model=WebhookAnswer, responses={404: problem("Unknown webhook secret.")})
def check_webhook(secret: str, ctx: Ctx, metrics: Found) -> WebhookAnswer:
    """Mailchimp's URL check when the webhook is saved: 200, no side effects."""
    _check_secret(ctx, metrics, secret)
    return WebhookAnswer(status="ok")


@router.post(
    PATH,
    response_model=WebhookAnswer,
    responses={
        400: problem("The body is not a Mailchimp webhook event."),
        401: problem("Missing, stale or wrong X-Mailchimp-Signature."),
        404: problem("Unknown webhook secret."),
        503: problem("The event could not be stored; Mailchimp will retry."),
    },
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "string"}}}}
    },
)
async def receive_webhook(
    secret: str, request: Request, x_mailchimp_signature: Annotated[str | None, Header()] = None
) -> Response:
    """One Mailchimp event, form-encoded with bracket keys (``data[merges][FNAME]``)."""
    writer = cast(InboxWriter, request.app.state.inbox_writer)
    ctx, metrics = app_context(request), app_metrics(request)  # plain calls: a sync Depends is a thread hop
    answer = await acknowledge(ctx, metrics, writer, secret, x_mailchimp_signature, request.body)
    return Response(answer, media_type="application/json")


async def acknowledge(
    ctx: AppContext,
    metrics: Metrics,
    writer: InboxWriter,
    secret: str,
    signature: str | None,
    body_of: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The 200 answer's body once the event is stored (or needs nothing); ``HTTPException`` otherwise.

    ``body_of`` reads the request's body: only once the secret matched. Both the documented route
    (:func:`receive_webhook`) and the ASGI fast path (:mod:`connector.api.webhook_asgi`) answer with it.
    """
    _check_secret(ctx, metrics, secret)
    body = await body_of()
    _check_signature(ctx, metrics, signature, body)
    if not body.strip():
        return _BODIES["ok"]
    event = _parse(metrics, body)
    return await _store(writer, ctx, metrics, event, body)


def _check_secret(ctx: AppContext, metrics: Metrics, secret: str) -> None:
    expected = ctx.settings.webhooks.secret
    if expected is None or not same_secret(secret, expected.get_secret_value()):
        metrics.webhooks_rejected.labels("secret").inc()
        log.warning("webhook.rejected", reason="secret", configured=expected is not None)
        raise HTTPException(404, "Not Found")


def _check_signature(ctx: AppContext, metrics: Metrics, header: str | None, body: bytes) -> None:
    signing = ctx.settings.webhooks.signing_secret
    if signing is None:
        return
    now = int(ctx.now().timestamp())
    tolerance = ctx.settings.webhooks.tolerance_seconds
    if not signature_is_valid(header, signing.get_secret_value(), body, now, tolerance):
        metrics.webhooks_rejected.labels("signature").inc()
        log.warning("webhook.rejected", reason="signature", header_present=header is not None)
        raise HTTPException(401, "invalid X-Mailchimp-Signature")


def _parse(metrics: Metrics, body: bytes) -> WebhookEvent:
    try:
        return parse_event(body)
    except PayloadError as exc:
        metrics.webhooks_rejected.labels("payload").inc()
        log.warning("webhook.rejected", reason="payload", problem=str(exc)[:200])
        raise HTTPException(400, str(exc)) from None


async def _store(
    writer: InboxWriter, ctx: AppContext, metrics: Metrics, event: WebhookEvent, body: bytes
) -> bytes:
    """Queue the event for the inbox writer; answer once its batch has committed (503 if it failed)."""
    try:
        report = await writer.accept(Delivery(event, body))
    except SQLAlchemyError as exc:
        metrics.webhooks_rejected.labels("store").inc()
        log.error("webhook.store_failed", type=event.type.value, error=type(exc).__name__)
        raise HTTPException(503, "the event could not be stored; retry later") from None
    metrics.webhooks_received.labels(event.type.value, report.intake.value).inc()
    if report.intake is Intake.DUPLICATE:
        log.info("webhook.duplicate", type=event.type.value)
    else:
        _observe_lag(ctx, metrics, event)
        log.debug(
            "webhook.stored", type=event.type.value, outcome=report.intake.value, audience_id=report.audience
        )
    return _BODIES[report.intake.value]


_BODIES = {  # serialised once: no per-call validation of ``WebhookAnswer``
    status: WebhookAnswer(status=status).model_dump_json().encode()
    for status in ("ok", *(intake.value for intake in Intake))
}


def _observe_lag(ctx: AppContext, metrics: Metrics, event: WebhookEvent) -> None:
    if event.fired_at is not None:
        metrics.webhook_lag.observe(max(0.0, (ctx.now() - event.fired_at).total_seconds()))
