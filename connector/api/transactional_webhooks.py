"""``HEAD|GET|POST /webhooks/transactional``: Mailchimp Transactional's webhook (bounces, complaints,
rejects, unsubscribes), verified by ``X-Mandrill-Signature``, applied in one transaction.

Transactional checks the URL with a HEAD (and some tools a GET) when the webhook is added: both answer
200 and change nothing. A POST is form-encoded with one field, ``mandrill_events`` (a JSON array); the
signature is base64 HMAC-SHA1 with the webhook's auth key over the URL as registered followed by each
POST field's name and value, sorted by name (``transactional.webhook_url`` when set, else the URL the
request came to).
"""

import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel

from connector.api.deps import app_context, problem
from connector.core.mandrill_signature import mandrill_signature
from connector.core.signatures import same_secret
from connector.errors import InputError
from connector.services.context import AppContext, Origin
from connector.services.transactional_events import parse_events, record_events

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger("connector.api.transactional_webhooks")
PATH = "/webhooks/transactional"
ORIGIN = Origin(actor="mailchimp-transactional", source="transactional-webhook")
Ctx = Annotated[AppContext, Depends(app_context)]


class TransactionalAnswer(BaseModel):
    status: str
    applied: int = 0


@router.get(PATH, response_model=TransactionalAnswer)
def check_transactional_webhook() -> TransactionalAnswer:
    """Transactional's URL check when the webhook is added: 200, no side effects."""
    return TransactionalAnswer(status="ok")


# The same check by HEAD; left out of the schema so the GET keeps its operation id to itself.
router.add_api_route(PATH, check_transactional_webhook, methods=["HEAD"], include_in_schema=False)


@router.post(
    PATH,
    response_model=TransactionalAnswer,
    responses={
        400: problem("The body holds no valid mandrill_events."),
        401: problem("Missing or wrong X-Mandrill-Signature."),
        404: problem("No Transactional webhook key configured (transactional.webhook_key)."),
    },
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "string"}}}}
    },
)
async def receive_transactional_webhook(
    request: Request, ctx: Ctx, x_mandrill_signature: Annotated[str | None, Header()] = None
) -> TransactionalAnswer:
    """A batch of Transactional events: bounces and complaints become suppressions, outcomes recorded."""
    key = ctx.settings.transactional.webhook_key
    if key is None:
        raise HTTPException(404, "no Transactional webhook is configured")
    form = await request.form()
    params = {name: value for name, value in form.items() if isinstance(value, str)}
    url = ctx.settings.transactional.webhook_url or str(request.url)
    expected = mandrill_signature(key.get_secret_value(), url, params)
    if x_mandrill_signature is None or not same_secret(x_mandrill_signature, expected):
        log.warning("transactional_webhook.refused", reason="signature")
        raise HTTPException(401, "missing or wrong X-Mandrill-Signature")
    try:
        items = json.loads(params.get("mandrill_events", "[]"))
    except json.JSONDecodeError:
        raise HTTPException(400, "mandrill_events is not JSON") from None
    if not isinstance(items, list):
        raise HTTPException(400, "mandrill_events is not a JSON array")
    try:
        events = parse_events(items)
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    applied = record_events(ctx, events, ORIGIN)
    log.info("transactional_webhook.applied", events=len(events), applied=applied)
    return TransactionalAnswer(status="applied", applied=applied)
