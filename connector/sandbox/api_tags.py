"""Tags on one member (``/members/{hash}/tags``) and the audience's tag search."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.core import transitions
from connector.sandbox.context import audience_of, stored_member, visible_member
from connector.sandbox.problems import invalid
from connector.sandbox.shaping import answer, json_body, links, no_content, page, timestamp

router = APIRouter(prefix="/3.0/lists/{list_id}")


@router.get("/members/{subscriber_hash}/tags")
async def member_tags(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        member = visible_member(audience, subscriber_hash)
        extras = runtime.extras(audience, member.subscriber_hash)
        tags = [
            {
                "id": runtime.tag_segment(audience, name).id,
                "name": name,
                "date_added": timestamp(extras.tag_dates.get(name, member.last_changed)),
            }
            for name in sorted(member.tags)
        ]
    return answer(request, {"tags": page(request, tags), "total_items": len(tags), "_links": links()})


@router.post("/members/{subscriber_hash}/tags")
async def update_member_tags(list_id: str, subscriber_hash: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    active, inactive = _tag_changes(body)
    with runtime.state.lock:
        before = stored_member(audience, subscriber_hash)
        now = runtime.now()
        added = transitions.add_tags(before, active, now, runtime.rules)
        outcome = (
            added
            if isinstance(added, transitions.Rejection)
            else transitions.remove_tags(added, inactive, now, runtime.rules)
        )
        runtime.commit_or_raise(audience, before, outcome)
    return no_content()


def _tag_changes(body: dict[str, object]) -> tuple[frozenset[str], frozenset[str]]:
    raw = body.get("tags")
    if not isinstance(raw, list):
        raise invalid("tags", "tags must be an array of {name, status}")
    changes: dict[str, set[str]] = {"active": set(), "inactive": set()}
    for index, tag in enumerate(raw):
        name = tag.get("name") if isinstance(tag, dict) else None
        status = tag.get("status") if isinstance(tag, dict) else None
        if not isinstance(name, str) or not name.strip() or status not in changes:
            raise invalid(f"tags.{index}", "each tag needs a name and status 'active' or 'inactive'")
        changes[str(status)].add(name.strip())
    return frozenset(changes["active"]), frozenset(changes["inactive"])


@router.get("/tag-search")
async def tag_search(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    prefix = request.query_params.get("name", "")
    with runtime.state.lock:
        tags = [
            {"id": segment.id, "name": segment.name}
            for segment in audience.segments.values()
            if segment.type == "static" and segment.name.lower().startswith(prefix.lower())
        ]
    return answer(request, {"tags": tags, "total_items": len(tags)})
