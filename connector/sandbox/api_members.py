"""Members: add, upsert, update, read, list, archive, delete permanently."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.core import transitions
from connector.core.remote import MemberStatus, RemoteMember, subscriber_hash
from connector.sandbox.context import (
    audience_of,
    hash_of,
    member_document,
    member_documents,
    stored_member,
    visible_member,
)
from connector.sandbox.member_input import (
    PATCH_STATUSES,
    email_field,
    merge_values,
    status_field,
    tag_names,
    with_details,
)
from connector.sandbox.problems import ApiProblemError, invalid
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.shaping import answer, flag, json_body, links, no_content, page, parse_timestamp
from connector.sandbox.state import Audience

router = APIRouter(prefix="/3.0/lists/{list_id}/members")
SORT_FIELDS = frozenset({"timestamp_opt", "timestamp_signup", "last_changed"})


@router.get("")
async def list_members(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        selected = _sorted(request, _filtered(request, audience))
        documents = member_documents(runtime, audience, page(request, selected))
    return answer(
        request, {"members": documents, "list_id": list_id, "total_items": len(selected), "_links": links()}
    )


def _filtered(request: Request, audience: Audience) -> list[RemoteMember]:
    query = request.query_params
    status = status_field(dict(query), "status", tuple(s.value for s in MemberStatus))
    if query.get("unsubscribed_since") and status is not MemberStatus.UNSUBSCRIBED:
        raise invalid("unsubscribed_since", "unsubscribed_since requires status=unsubscribed")
    bounds = _time_bounds(request)
    members = audience.present_members()
    if status is None:
        return [m for m in members if not m.is_archived and _within(m, bounds)]
    return [m for m in members if m.status is status and _within(m, bounds)]


def _time_bounds(request: Request) -> dict[str, datetime]:
    names = ("since_last_changed", "before_last_changed", "unsubscribed_since", "since_timestamp_opt")
    query = request.query_params
    return {name: parse_timestamp(query[name], name) for name in names if query.get(name)}


def _second(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment else None


def _within(member: RemoteMember, bounds: dict[str, datetime]) -> bool:
    changed = _second(member.last_changed)
    assert changed is not None
    checks = (
        ("since_last_changed", changed, True),
        ("unsubscribed_since", changed, True),
        ("before_last_changed", changed, False),
        ("since_timestamp_opt", _second(member.timestamp_opt), True),
    )
    for name, moment, since in checks:
        bound = bounds.get(name)
        if bound is not None and (moment is None or (moment < bound if since else moment >= bound)):
            return False
    return True


def _sorted(request: Request, members: list[RemoteMember]) -> list[RemoteMember]:
    field = request.query_params.get("sort_field")
    if not field:
        return members
    if field not in SORT_FIELDS:
        raise invalid("sort_field", "sort_field must be timestamp_opt, timestamp_signup or last_changed")
    descending = request.query_params.get("sort_dir", "ASC").upper() == "DESC"
    return sorted(members, key=lambda m: _sort_key(m, field), reverse=descending)


def _sort_key(member: RemoteMember, field: str) -> float:
    moment = getattr(member, field)
    return moment.timestamp() if isinstance(moment, datetime) else 0.0


@router.post("")
async def add_member(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    email = email_field(body)
    assert email is not None
    status = status_field(body, "status")
    if status is None:
        raise invalid("status", "This value should not be blank.")
    with runtime.state.lock:
        before = stored_member(audience, email)
        merges = merge_values(
            audience, body, creating=True, skip_validation=flag(request, "skip_merge_validation")
        )
        outcome = transitions.batch_subscribe_item(
            before,
            email,
            status=status,
            merge_fields=merges,
            tags=tag_names(body),
            update_existing=False,
            sync_tags=False,
            now=runtime.now(),
            rules=runtime.rules,
        )
        saved = _commit(runtime, audience, before, outcome, body)
        return answer(request, member_document(runtime, audience, saved))


def _commit(
    runtime: SandboxRuntime,
    audience: Audience,
    before: RemoteMember | None,
    outcome: transitions.Outcome,
    body: dict[str, Any],
) -> RemoteMember:
    if isinstance(outcome, transitions.Rejection):
        return runtime.commit_or_raise(audience, before, outcome)
    return runtime.commit_or_raise(audience, before, with_details(outcome, body))


@router.get("/{subscriber_hash}")
async def get_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        return answer(request, member_document(runtime, audience, visible_member(audience, subscriber_hash)))


@router.put("/{subscriber_hash}")
async def put_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    email = email_field(body)
    assert email is not None
    _check_hash(subscriber_hash, email)
    with runtime.state.lock:
        before = stored_member(audience, subscriber_hash)
        creating = before is None or not before.is_present
        merges = merge_values(
            audience, body, creating=creating, skip_validation=flag(request, "skip_merge_validation")
        )
        outcome = transitions.upsert(
            before,
            email,
            status=status_field(body, "status"),
            status_if_new=status_field(body, "status_if_new"),
            merge_fields=merges,
            now=runtime.now(),
            rules=runtime.rules,
        )
        saved = _commit(runtime, audience, before, outcome, body)
        return answer(request, member_document(runtime, audience, saved))


def _check_hash(member_ref: str, email: str) -> None:
    if hash_of(member_ref) != subscriber_hash(email):
        raise invalid("email_address", "The email address does not match the subscriber hash in the URL.")


@router.patch("/{subscriber_hash}")
async def patch_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    email = email_field(body, required=False)
    with runtime.state.lock:
        before = stored_member(audience, subscriber_hash)
        if email is not None and before is not None and subscriber_hash_clash(audience, before, email):
            raise ApiProblemError(400, transitions.MEMBER_EXISTS, f"{email} is already a list member.")
        merges = merge_values(audience, body, creating=False)
        outcome = transitions.patch(
            before,
            email=email,
            status=status_field(body, "status", PATCH_STATUSES),
            merge_fields=merges,
            now=runtime.now(),
            rules=runtime.rules,
        )
        saved = _commit(runtime, audience, before, outcome, body)
        return answer(request, member_document(runtime, audience, saved))


def subscriber_hash_clash(audience: Audience, member: RemoteMember, new_email: str) -> bool:
    """Whether ``new_email`` already belongs to another member of the audience."""
    other = audience.members.get(subscriber_hash(new_email))
    return other is not None and other.subscriber_hash != member.subscriber_hash and not other.forgotten


@router.delete("/{subscriber_hash}")
async def archive_member(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        before = stored_member(audience, subscriber_hash)
        runtime.commit_or_raise(audience, before, transitions.archive(before, runtime.now()))
    return no_content()


@router.post("/{subscriber_hash}/actions/delete-permanent")
async def delete_member_permanently(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        before = stored_member(audience, subscriber_hash)
        runtime.commit_or_raise(audience, before, transitions.delete_permanent(before, runtime.now()))
        audience.extras.pop(hash_of(subscriber_hash), None)
    return no_content()
