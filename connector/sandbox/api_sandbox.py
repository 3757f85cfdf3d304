"""``/_sandbox``: simulate what a person (or an admin in Mailchimp's UI) does, and observe the sandbox.

No auth, no faults, not counted against the connection limit.
"""

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from connector.core import transitions
from connector.core.remote import RemoteMember
from connector.core.transitions import Source
from connector.sandbox.assumptions import ASSUMPTIONS
from connector.sandbox.context import audience_of, member_document, runtime_of, stored_member
from connector.sandbox.member_input import tag_names
from connector.sandbox.problems import ApiProblemError, invalid, not_found
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.shaping import json_body
from connector.sandbox.state import Audience

router = APIRouter(prefix="/_sandbox")
MEMBER = "/lists/{list_id}/members/{member_ref}"


@router.get("/stats")
async def stats(request: Request) -> Response:
    runtime = runtime_of(request)
    document = runtime.observations.stats() | {
        "seed": runtime.faults.seed,
        "webhook_deliveries_pending": runtime.webhooks.pending(),
    }
    return JSONResponse(document)


@router.get("/requests")
async def request_log(request: Request) -> Response:
    limit = request.query_params.get("limit")
    records = runtime_of(request).observations.requests(int(limit) if limit and limit.isdigit() else None)
    return JSONResponse({"requests": records, "total_items": len(records)})


@router.post("/reset")
async def reset(request: Request) -> Response:
    runtime_of(request).reset()
    return Response(status_code=204)


@router.get("/assumptions")
async def assumptions() -> Response:
    return JSONResponse({"assumptions": [asdict(a) for a in ASSUMPTIONS]})


@router.get("/confirmations")
async def confirmations(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.state.lock:
        sent = [
            {"list_id": c.list_id, "subscriber_hash": c.subscriber_hash, "sent_at": c.sent_at.isoformat()}
            for c in runtime.state.data.confirmations
        ]
    return JSONResponse({"confirmations": sent, "total_items": len(sent)})


CONFIRMATION_SUBJECT = "Please confirm your subscription"


@router.get("/outbox")
async def outbox(request: Request) -> Response:
    """Every double opt-in confirmation e-mail Mailchimp would have sent (``?email=`` filters), with the
    link the person clicks: ``POST`` its ``confirm_url`` to confirm (the member becomes ``subscribed``
    and a ``subscribe`` webhook fires, as Mailchimp does)."""
    runtime = runtime_of(request)
    wanted = (request.query_params.get("email") or "").strip().lower()
    with runtime.state.lock:
        sent = [
            {
                "kind": "opt-in confirmation",
                "list_id": c.list_id,
                "subscriber_hash": c.subscriber_hash,
                "to": getattr(c, "email", ""),
                "subject": CONFIRMATION_SUBJECT,
                "sent_at": c.sent_at.isoformat(),
                "confirm_url": f"/_sandbox/lists/{c.list_id}/members/{c.subscriber_hash}/confirm",
            }
            for c in runtime.state.data.confirmations
            if not wanted or getattr(c, "email", "").strip().lower() == wanted
        ]
    return JSONResponse({"messages": sent, "total_items": len(sent)})


@router.get("/webhook-deliveries")
async def webhook_deliveries(request: Request) -> Response:
    records = runtime_of(request).webhooks.records()
    return JSONResponse({"deliveries": records, "total_items": len(records)})


@router.get("/batch-results/{name}")
async def batch_results(name: str, request: Request) -> Response:
    runtime = runtime_of(request)
    record = runtime.state.data.batches.get(name.removesuffix(".tar.gz"))
    if record is None or record.result is None or record.completed_at is None:
        raise not_found()
    if time.time() - record.completed_at.timestamp() > runtime.knobs.batch_result_ttl_s:
        raise ApiProblemError(
            403, "Forbidden", "This response body URL has expired; GET the batch for a fresh one."
        )
    return Response(record.result, media_type="application/x-gzip")


def _person_change(
    runtime: SandboxRuntime,
    audience: Audience,
    member_ref: str,
    source: Source,
    campaign_id: str,
    outcome_of: Callable[[RemoteMember | None], transitions.Outcome],
) -> dict[str, Any]:
    with runtime.state.lock:
        before = stored_member(audience, member_ref)
        outcome = outcome_of(before)
        if isinstance(outcome, transitions.Rejection):
            raise ApiProblemError(outcome.status, outcome.title, outcome.detail)
        saved: RemoteMember = runtime.commit(audience, before, outcome, source, campaign_id=campaign_id)
        return member_document(runtime, audience, saved)


async def _campaign_change(
    request: Request,
    list_id: str,
    member_ref: str,
    change: Callable[[SandboxRuntime, RemoteMember | None], transitions.Outcome],
) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    campaign = _campaign(body)
    return JSONResponse(
        _person_change(runtime, audience, member_ref, Source.USER, campaign, lambda m: change(runtime, m))
    )


@router.post(MEMBER + "/unsubscribe")
async def unsubscribe(list_id: str, member_ref: str, request: Request) -> Response:
    """The person clicks the unsubscribe link in a campaign (``campaign_id`` optional)."""
    return await _campaign_change(
        request, list_id, member_ref, lambda rt, m: transitions.unsubscribe_by_person(m, rt.now())
    )


@router.post(MEMBER + "/complain")
async def complain(list_id: str, member_ref: str, request: Request) -> Response:
    """The person marks a campaign as spam: unsubscribed, reason abuse."""
    return await _campaign_change(
        request,
        list_id,
        member_ref,
        lambda rt, m: transitions.unsubscribe_by_person(m, rt.now(), complaint=True),
    )


@router.post(MEMBER + "/bounce")
async def bounce(list_id: str, member_ref: str, request: Request) -> Response:
    """A hard bounce: the member is cleaned."""
    return await _campaign_change(request, list_id, member_ref, lambda rt, m: transitions.bounce(m, rt.now()))


@router.post(MEMBER + "/confirm")
async def confirm(list_id: str, member_ref: str, request: Request) -> Response:
    """The person clicks the double opt-in confirmation link."""
    runtime, audience = audience_of(request, list_id)
    return JSONResponse(
        _person_change(
            runtime, audience, member_ref, Source.USER, "", lambda m: transitions.confirm(m, runtime.now())
        )
    )


@router.post(MEMBER + "/change-email")
async def change_email(list_id: str, member_ref: str, request: Request) -> Response:
    """The person changes their address in the preference centre (``{"new_email": …}``)."""
    runtime, audience = audience_of(request, list_id)
    new_email = (await json_body(request)).get("new_email")
    if not isinstance(new_email, str):
        raise invalid("new_email", "new_email is required")

    def change(member: RemoteMember | None) -> transitions.Outcome:
        if member is None or not member.is_present:
            return transitions.not_found()
        if new_email.strip().lower() in {m.email.lower() for m in audience.present_members()}:
            return transitions.Rejection(
                transitions.MEMBER_EXISTS, "That address is already on the audience."
            )
        return transitions.change_email(member, new_email, runtime.now(), runtime.rules)

    return JSONResponse(_person_change(runtime, audience, member_ref, Source.USER, "", change))


@router.post(MEMBER + "/tags")
async def edit_tags(list_id: str, member_ref: str, request: Request) -> Response:
    """An admin edits the member's tags by hand in Mailchimp (``{"add": [...], "remove": [...]}``)."""
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    add, remove = tag_names(body, "add"), tag_names(body, "remove")

    def change(member: RemoteMember | None) -> transitions.Outcome:
        added = transitions.add_tags(member, add, runtime.now(), runtime.rules)
        if isinstance(added, transitions.Rejection):
            return added
        return transitions.remove_tags(added, remove, runtime.now(), runtime.rules)

    return JSONResponse(_person_change(runtime, audience, member_ref, Source.ADMIN, "", change))


def _campaign(body: dict[str, Any]) -> str:
    campaign_id = body.get("campaign_id", "")
    return campaign_id if isinstance(campaign_id, str) else ""
