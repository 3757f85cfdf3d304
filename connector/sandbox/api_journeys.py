"""``POST /3.0/customer-journeys/journeys/{journey_id}/steps/{step_id}/actions/trigger``: start a contact
at a journey's "API" starting point; the journey's (transactional) e-mail goes to the journey outbox.

Whom it reaches (docs/mailchimp-behaviour.md "Customer Journey trigger"): Mailchimp's reference names no
status requirement, only "the posted contact" of the journey's audience; its help says transactional
e-mails reach subscribed, unsubscribed and non-subscribed contacts, and cleaned contacts "nothing". So a
subscribed, unsubscribed or ``transactional`` member is triggered (204); a cleaned, archived or pending
member, or an address not in the audience, is refused with 400 (sandbox assumption
``journey_trigger_refusals``: the exact answer is undocumented). Unknown journey or step: 404.
"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.core.remote import MemberStatus
from connector.sandbox.context import runtime_of, stored_member
from connector.sandbox.problems import ApiProblemError, invalid, not_found
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.shaping import json_body
from connector.sandbox.transactional_state import JourneySend

router = APIRouter(prefix="/3.0")
JOURNEY_REACHES = frozenset({MemberStatus.SUBSCRIBED, MemberStatus.UNSUBSCRIBED, MemberStatus.TRANSACTIONAL})
_REFUSALS = {
    MemberStatus.CLEANED: "The contact's address is cleaned (it bounced); it can't receive email.",
    MemberStatus.ARCHIVED: "The contact is archived; unarchive it before it can enter a journey.",
    MemberStatus.PENDING: "The contact has not confirmed its subscription (pending).",
}


@router.post("/customer-journeys/journeys/{journey_id}/steps/{step_id}/actions/trigger")
async def trigger(journey_id: int, step_id: int, request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    email = body.get("email_address")
    state = runtime.transactional
    with state.lock:
        journey = state.data.journeys.get(journey_id)
    if journey is None or journey.step_id != step_id:
        raise not_found()
    if not isinstance(email, str) or not email.strip():
        raise invalid("email_address", "This value should not be blank.")
    audience = runtime.state.audience(journey.list_id)
    with runtime.state.lock:
        member = stored_member(audience, email) if audience is not None else None
    if member is None or member.forgotten:
        _refuse(runtime, journey.journey_id, step_id, journey.list_id, email, "not_member")
        raise ApiProblemError(400, "Bad Request", "The contact is not in this journey's audience.")
    if member.status not in JOURNEY_REACHES:
        _refuse(
            runtime, journey.journey_id, step_id, journey.list_id, email, f"refused:{member.status.value}"
        )
        raise ApiProblemError(400, "Bad Request", _REFUSALS[member.status])
    with state.lock:
        state.data.journey_sends.append(
            JourneySend(journey_id, step_id, journey.list_id, member.email, "sent", runtime.now())
        )
    return Response(status_code=204)


def _refuse(
    runtime: SandboxRuntime, journey_id: int, step_id: int, list_id: str, email: str, status: str
) -> None:
    with runtime.transactional.lock:
        runtime.transactional.data.journey_sends.append(
            JourneySend(journey_id, step_id, list_id, email, status, runtime.now())
        )
