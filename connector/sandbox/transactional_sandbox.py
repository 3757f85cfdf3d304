"""``/sandbox/...``: sandbox-only inspection and simulation for Transactional and Customer Journeys.

- ``GET /sandbox/transactional/outbox`` (``?email=``, ``?notice_id=``): every message per recipient,
  after merge, with its status.
- ``POST /sandbox/transactional/bounce`` ``{"email", "event": hard_bounce|soft_bounce|spam|unsub}``: the
  address goes on the reject list and every webhook registered for the event gets it, signed.
- ``GET /sandbox/transactional/sms-outbox`` (``?phone=``): every SMS per number, with its status.
- ``POST /sandbox/transactional/sms-stop`` ``{"phone"}``: the person replied STOP; the number goes on
  the SMS reject list (``unsub``).
- ``POST /sandbox/transactional/domains`` ``{"domain", "valid_signing"}``: a sending domain and whether
  its SPF/DKIM are valid (messages from an invalid one are rejected ``unsigned``).
- ``POST /sandbox/journeys`` ``{"list_id", "name"}`` → ``{"journey_id", "step_id"}``: a journey whose
  API starting point is that step; ``GET /sandbox/journeys/outbox``: what its trigger sent or refused.

No auth, no faults, not counted against the connection limit.
"""

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from connector.sandbox.context import runtime_of
from connector.sandbox.problems import invalid, not_found
from connector.sandbox.shaping import json_body
from connector.sandbox.transactional_api import add_to_reject_list
from connector.sandbox.transactional_events import fire
from connector.sandbox.transactional_sms import E164, stop_reply
from connector.sandbox.transactional_state import Journey, OutboxEntry, SendingDomain

router = APIRouter(prefix="/sandbox")
BOUNCE_REASONS = {
    "hard_bounce": "hard-bounce",
    "soft_bounce": "soft-bounce",
    "spam": "spam",
    "unsub": "unsub",
}


@router.get("/transactional/outbox")
async def outbox(request: Request) -> Response:
    runtime = runtime_of(request)
    email = (request.query_params.get("email") or "").lower()
    notice_id = request.query_params.get("notice_id")
    with runtime.transactional.lock:
        entries = [
            e.document()
            for e in runtime.transactional.data.outbox
            if (not email or e.email.lower() == email)
            and (notice_id is None or e.metadata.get("notice_id") == notice_id)
        ]
    return JSONResponse({"messages": entries, "total_items": len(entries)})


@router.get("/transactional/sms-outbox")
async def sms_outbox(request: Request) -> Response:
    runtime = runtime_of(request)
    phone = (request.query_params.get("phone") or "").strip()
    with runtime.transactional.lock:
        entries = [e.document() for e in runtime.transactional.data.sms_outbox if not phone or e.to == phone]
    return JSONResponse({"messages": entries, "total_items": len(entries)})


@router.post("/transactional/sms-stop")
async def sms_stop(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    phone = body.get("phone")
    if not isinstance(phone, str) or not E164.match(phone):
        raise invalid("phone", "an E.164 number is required")
    record = stop_reply(runtime, phone)
    return JSONResponse({"phone": phone, "reject_reason": record.reason})


@router.post("/transactional/bounce")
async def bounce(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    email, event = body.get("email"), body.get("event", "hard_bounce")
    if not isinstance(email, str) or "@" not in email:
        raise invalid("email", "an address is required")
    if event not in BOUNCE_REASONS:
        raise invalid("event", f"one of {', '.join(BOUNCE_REASONS)}")
    state = runtime.transactional
    now = runtime.now()
    with state.lock:
        sent = [e for e in state.data.outbox if e.email.lower() == email.lower()]
        entry = sent[-1] if sent else None
        if entry is not None and event in ("hard_bounce", "soft_bounce"):
            entry.state = "bounced" if event == "hard_bounce" else "soft-bounced"
    add_to_reject_list(state, email, BOUNCE_REASONS[event], str(body.get("description") or event), now)
    if entry is None:  # a bounce of mail sent outside the sandbox: an event without a known message
        entry = OutboxEntry(
            "", now, email, None, "", None, None, None, None, None, {}, [], "sent", None, "sent"
        )
    webhooks = fire(runtime, str(event), entry, body.get("description"))
    return JSONResponse(
        {
            "email": email,
            "reject_reason": BOUNCE_REASONS[event],
            "message_id": entry.id or None,
            "webhooks": webhooks,
        }
    )


@router.post("/transactional/domains")
async def add_domain(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    domain = body.get("domain")
    if not isinstance(domain, str) or not domain:
        raise invalid("domain", "a domain is required")
    with runtime.transactional.lock:
        runtime.transactional.data.domains[domain.lower()] = SendingDomain(
            domain.lower(), runtime.now(), body.get("valid_signing", True) is not False
        )
    return Response(status_code=204)


@router.post("/journeys")
async def create_journey(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    list_id = body.get("list_id")
    if not isinstance(list_id, str) or runtime.state.audience(list_id) is None:
        raise not_found("No audience with that list_id.")
    state = runtime.transactional
    journey = Journey(state.next_number(), state.next_number(), list_id, str(body.get("name") or "Notices"))
    with state.lock:
        state.data.journeys[journey.journey_id] = journey
    return JSONResponse({"journey_id": journey.journey_id, "step_id": journey.step_id, "list_id": list_id})


@router.get("/journeys/outbox")
async def journey_outbox(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.transactional.lock:
        sends = [s.document() for s in runtime.transactional.data.journey_sends]
    return JSONResponse({"sends": sends, "total_items": len(sends)})
