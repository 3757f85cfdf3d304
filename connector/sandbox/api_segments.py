"""Segments: tags (static segments) with bulk member edits, and saved segments over tag conditions."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.core import transitions
from connector.core.remote import RemoteMember, subscriber_hash
from connector.sandbox import render
from connector.sandbox.assumptions import MAX_SEGMENT_BULK_EMAILS, SEGMENT_MEMBERS_DEFAULT_STATUSES
from connector.sandbox.context import (
    audience_of,
    member_document,
    member_documents,
    member_latency,
    members_answer,
    visible_member,
)
from connector.sandbox.problems import ApiProblemError, invalid, not_found
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.segments import check_conditions, segment_members
from connector.sandbox.shaping import answer, flag, json_body, links, no_content, page
from connector.sandbox.state import Audience, SegmentRecord

router = APIRouter(prefix="/3.0/lists/{list_id}/segments")
SEGMENT_TYPES = frozenset({"saved", "static", "fuzzy"})


@router.get("")
async def list_segments(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    kind = request.query_params.get("type")
    with runtime.state.lock:
        found = [s for s in audience.segments.values() if kind is None or s.type == kind]
        documents = [render.segment(audience, s) for s in page(request, found)]
    body = {"segments": documents, "list_id": list_id, "total_items": len(found), "_links": links()}
    return answer(request, body)


@router.post("")
async def create_segment(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    name = _name(body)
    with runtime.state.lock:
        if "static_segment" in body and "options" in body:
            raise invalid("static_segment", "Send either static_segment or options, not both.")
        segment = _create_static(runtime, audience, name, body) if "options" not in body else None
        segment = segment or _create_saved(runtime, audience, name, body["options"])
        return answer(request, render.segment(audience, segment))


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("name", "This value should not be blank.")
    return name.strip()


def _emails(body: dict[str, Any], field: str) -> list[str]:
    raw = body.get(field) or []
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise invalid(field, f"{field} must be an array of e-mail addresses")
    if len(raw) > MAX_SEGMENT_BULK_EMAILS:
        raise invalid(field, f"{field} accepts at most {MAX_SEGMENT_BULK_EMAILS} e-mail addresses per call")
    return raw


def _create_static(
    runtime: SandboxRuntime, audience: Audience, name: str, body: dict[str, Any]
) -> SegmentRecord:
    if audience.tag_segment(name) is not None:
        raise invalid("name", f"A tag named {name} already exists on this audience.")
    emails = _emails(body, "static_segment")
    segment = runtime.tag_segment(audience, name)
    _tag_members(runtime, audience, emails, segment.name, add=True)
    return segment


def _create_saved(runtime: SandboxRuntime, audience: Audience, name: str, options: Any) -> SegmentRecord:
    if not isinstance(options, dict):
        raise invalid("options", "options must be an object with match and conditions")
    match, conditions = options.get("match", "any"), options.get("conditions") or []
    check_conditions(audience, match, conditions)
    now = runtime.now()
    segment = SegmentRecord(runtime.state.next_number(), name, "saved", now, now, match, list(conditions))
    audience.segments[segment.id] = segment
    return segment


def _tag_members(
    runtime: SandboxRuntime, audience: Audience, emails: list[str], tag: str, *, add: bool
) -> tuple[list[RemoteMember], list[str]]:
    """Add (or remove) ``tag`` on each present member; returns those members and the unknown addresses."""
    done: list[RemoteMember] = []
    unknown: list[str] = []
    change = transitions.add_tags if add else transitions.remove_tags
    for email in emails:
        before = audience.members.get(subscriber_hash(email))
        if before is None or not before.is_present:
            unknown.append(email)
            continue
        outcome = change(before, frozenset({tag}), runtime.now(), runtime.rules)
        done.append(runtime.commit_or_raise(audience, before, outcome))
    return done, unknown


def _segment(audience: Audience, segment_id: str) -> SegmentRecord:
    try:
        found = audience.segments.get(int(segment_id))
    except ValueError:
        found = None
    if found is None:
        raise not_found()
    return found


@router.get("/{segment_id}")
async def get_segment(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        return answer(request, render.segment(audience, _segment(audience, segment_id)))


@router.patch("/{segment_id}")
async def update_segment(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    name = _name(body)
    with runtime.state.lock:
        segment = _segment(audience, segment_id)
        if segment.type == "static":
            _update_static(runtime, audience, segment, name, body)
        else:
            _update_saved(runtime, audience, segment, name, body)
        segment.updated_at = runtime.now()
        return answer(request, render.segment(audience, segment))


def _update_static(
    runtime: SandboxRuntime, audience: Audience, segment: SegmentRecord, name: str, body: dict[str, Any]
) -> None:
    if name != segment.name:
        if audience.tag_segment(name) is not None:
            raise invalid("name", f"A tag named {name} already exists on this audience.")
        tagged = [m.email for m in audience.present_members() if segment.name in m.tags]
        _tag_members(runtime, audience, tagged, segment.name, add=False)
        segment.name = name
        _tag_members(runtime, audience, tagged, name, add=True)
    if "static_segment" in body:
        wanted = {subscriber_hash(e) for e in _emails(body, "static_segment")}
        current = [m.email for m in audience.present_members() if name in m.tags]
        _tag_members(
            runtime, audience, [e for e in current if subscriber_hash(e) not in wanted], name, add=False
        )
        _tag_members(runtime, audience, _emails(body, "static_segment"), name, add=True)


def _update_saved(
    runtime: SandboxRuntime, audience: Audience, segment: SegmentRecord, name: str, body: dict[str, Any]
) -> None:
    if "static_segment" in body:
        raise invalid("static_segment", "A saved segment has conditions, not a static member list.")
    options = body.get("options")
    if isinstance(options, dict):
        match, conditions = (
            options.get("match", segment.match),
            options.get("conditions") or segment.conditions,
        )
        check_conditions(audience, match, conditions)
        segment.match, segment.conditions = match, list(conditions)
    segment.name = name


@router.delete("/{segment_id}")
async def delete_segment(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        segment = _segment(audience, segment_id)
        if segment.type == "static":
            tagged = [m.email for m in audience.present_members() if segment.name in m.tags]
            _tag_members(runtime, audience, tagged, segment.name, add=False)
        del audience.segments[segment.id]
    return no_content()


@router.post("/{segment_id}")
async def bulk_edit_segment(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    to_add, to_remove = _emails(body, "members_to_add"), _emails(body, "members_to_remove")
    await member_latency(runtime, len(to_add) + len(to_remove))
    with runtime.state.lock:
        segment = _segment(audience, segment_id)
        if segment.type != "static":
            raise ApiProblemError(
                400, "Invalid Resource", "Members can be added to and removed from tags only."
            )
        added, unknown_added = _tag_members(runtime, audience, to_add, segment.name, add=True)
        removed, unknown_removed = _tag_members(runtime, audience, to_remove, segment.name, add=False)
        errors = [
            {"email_addresses": unknown, "error": "These e-mail addresses are not on the audience."}
            for unknown in (unknown_added, unknown_removed)
            if unknown
        ]
        totals = {
            "errors": errors,
            "total_added": len(added),
            "total_removed": len(removed),
            "error_count": len(unknown_added) + len(unknown_removed),
            "_links": links(),
        }
        members = {"members_added": added, "members_removed": removed}
        return members_answer(request, runtime, audience, members, totals)


@router.get("/{segment_id}/members")
async def segment_member_list(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    statuses = set(SEGMENT_MEMBERS_DEFAULT_STATUSES)
    for status in ("cleaned", "transactional", "unsubscribed"):
        if flag(request, f"include_{status}"):
            statuses.add(status)
    with runtime.state.lock:
        found = segment_members(audience, _segment(audience, segment_id), statuses)
        documents = member_documents(runtime, audience, page(request, found))
    return answer(request, {"members": documents, "total_items": len(found), "_links": links()})


@router.post("/{segment_id}/members")
async def add_segment_member(list_id: str, segment_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    email = body.get("email_address")
    with runtime.state.lock:
        segment = _segment(audience, segment_id)
        if segment.type != "static" or not isinstance(email, str):
            raise invalid("email_address", "Give the e-mail address of a member to add to this tag.")
        visible_member(audience, email)
        added, _ = _tag_members(runtime, audience, [email], segment.name, add=True)
        if not added:
            raise not_found()
        return answer(request, member_document(runtime, audience, added[0]))


@router.delete("/{segment_id}/members/{subscriber_hash}")
async def remove_segment_member(
    list_id: str, segment_id: str, subscriber_hash: str, request: Request
) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        segment = _segment(audience, segment_id)
        member = visible_member(audience, subscriber_hash)
        if segment.type != "static":
            raise invalid("segment_id", "Members can be removed from tags only.")
        _tag_members(runtime, audience, [member.email], segment.name, add=False)
    return no_content()
