"""What every route needs: the runtime, the audience or member named in the path, member documents."""

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from connector.core.remote import RemoteMember, subscriber_hash
from connector.sandbox import render
from connector.sandbox.problems import not_found
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.shaping import answer, json_answer
from connector.sandbox.state import Audience


def runtime_of(request: Request) -> SandboxRuntime:
    return cast(SandboxRuntime, request.app.state.runtime)


def audience_of(request: Request, list_id: str) -> tuple[SandboxRuntime, Audience]:
    runtime = runtime_of(request)
    audience = runtime.state.audience(list_id)
    if audience is None:
        raise not_found()
    return runtime, audience


def hash_of(member_ref: str) -> str:
    """The path's member reference: a subscriber hash, or an e-mail address (the spec allows both)."""
    return subscriber_hash(member_ref) if "@" in member_ref else member_ref.lower()


def stored_member(audience: Audience, member_ref: str) -> RemoteMember | None:
    """The member as Mailchimp holds it, tombstones included (``None``: never on the audience)."""
    return audience.members.get(hash_of(member_ref))


def visible_member(audience: Audience, member_ref: str) -> RemoteMember:
    """The member the API can see, or 404 (permanently deleted members are indistinguishable)."""
    found = stored_member(audience, member_ref)
    if found is None or found.forgotten:
        raise not_found()
    return found


def member_document(runtime: SandboxRuntime, audience: Audience, member: RemoteMember) -> dict[str, object]:
    return render.member(audience, member, runtime.extras(audience, member.subscriber_hash))


def member_documents(
    runtime: SandboxRuntime, audience: Audience, members: Iterable[RemoteMember]
) -> list[dict[str, Any]]:
    """Documents of many members of one audience (a page, a batch's answer), one renderer for all."""
    documents = render.MemberDocuments(audience)
    extras = runtime.extras
    return [documents.member(m, extras(audience, m.subscriber_hash)) for m in members]


def members_answer(
    request: Request,
    runtime: SandboxRuntime,
    audience: Audience,
    members: Mapping[str, Sequence[RemoteMember]],
    rest: dict[str, Any],
) -> Response:
    """An answer holding lists of member documents (``new_members``, ``members_added``, …) and then
    ``rest``: encoded member by member (:meth:`render.MemberDocuments.member_json`, the same bytes as
    ``json.dumps`` of the documents) unless ``fields`` or ``exclude_fields`` shape it."""
    query = request.query_params
    if query.get("fields") or query.get("exclude_fields") or not rest:
        listed = {key: member_documents(runtime, audience, values) for key, values in members.items()}
        return answer(request, listed | rest)
    documents = render.MemberDocuments(audience)
    extras = runtime.extras
    parts = [
        f"{json.dumps(key)}: ["
        + ", ".join(documents.member_json(m, extras(audience, m.subscriber_hash)) for m in values)
        + "]"
        for key, values in members.items()
    ]
    return json_answer("{" + ", ".join([*parts, json.dumps(rest)[1:-1]]) + "}")


async def member_latency(runtime: SandboxRuntime, members: int) -> None:
    """The ``latency_per_member_ms`` knob, for calls that carry many members."""
    if runtime.knobs.latency_per_member_ms and members:
        await asyncio.sleep(runtime.knobs.latency_per_member_ms * members / 1000)
