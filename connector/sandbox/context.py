"""What every route needs: the runtime, the audience or member named in the path, member documents."""

import asyncio
from typing import cast

from starlette.requests import Request

from connector.core.remote import RemoteMember, subscriber_hash
from connector.sandbox import render
from connector.sandbox.problems import not_found
from connector.sandbox.runtime import SandboxRuntime
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


async def member_latency(runtime: SandboxRuntime, members: int) -> None:
    """The ``latency_per_member_ms`` knob, for calls that carry many members."""
    if runtime.knobs.latency_per_member_ms and members:
        await asyncio.sleep(runtime.knobs.latency_per_member_ms * members / 1000)
