"""Which webhook events a member change fires, and their form-encoded payloads, as Mailchimp sends them.

Pure: the caller passes the member before and after, the source and ``fired_at``.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from connector.core.remote import MemberStatus, RemoteMember
from connector.core.transitions import COMPLAINT_UNSUBSCRIBE_REASON, Source

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event; ``source`` ``None`` means it reaches every webhook listening to its type."""

    type: str
    source: Source | None
    fields: Pairs


@dataclass(frozen=True, slots=True)
class EventContext:
    list_id: str
    short_id: str
    """Mailchimp's ``data[id]``: a short member id, not the subscriber hash."""
    fired_at: datetime
    campaign_id: str = ""


def fired_at_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def events_for(
    before: RemoteMember | None, after: RemoteMember, source: Source, context: EventContext
) -> list[WebhookEvent]:
    """The events Mailchimp fires for a change from ``before`` to ``after``."""
    if before is not None and before.is_present and not after.is_present:
        return [_unsubscribe(before, "delete", "manual", source, context)]
    if after.forgotten:
        return []
    if before is not None and before.subscriber_hash != after.subscriber_hash:
        return [_upemail(before, after, source, context), _profile(after, source, context)]
    status_event = _status_event(before, after, source, context)
    if status_event is not None:
        return [status_event]
    if before is not None and (before.merge_fields, before.tags) != (after.merge_fields, after.tags):
        return [_profile(after, source, context)]
    return []


def _status_event(
    before: RemoteMember | None, after: RemoteMember, source: Source, context: EventContext
) -> WebhookEvent | None:
    if before is not None and before.status is after.status:
        return None
    if after.status is MemberStatus.SUBSCRIBED:
        return _event("subscribe", source, _member_fields(after, context, subscribe=True), context)
    if after.status is MemberStatus.UNSUBSCRIBED and before is not None:
        reason = "abuse" if after.unsubscribe_reason == COMPLAINT_UNSUBSCRIBE_REASON else "manual"
        return _unsubscribe(after, "unsub", reason, source, context)
    if after.status is MemberStatus.CLEANED and before is not None:
        return _cleaned(after, context)
    if after.status is MemberStatus.TRANSACTIONAL and before is not None:
        return _profile(after, source, context)
    return None


def _event(kind: str, source: Source | None, data: Pairs, context: EventContext) -> WebhookEvent:
    head = (("type", kind), ("fired_at", fired_at_text(context.fired_at)))
    return WebhookEvent(kind, source, head + tuple((f"data[{key}]", value) for key, value in data))


def _merges(member: RemoteMember) -> Pairs:
    values = {"EMAIL": member.email, **member.merge_map}
    return tuple((f"merges][{tag}", value) for tag, value in values.items())  # -> data[merges][TAG]


def _member_fields(member: RemoteMember, context: EventContext, *, subscribe: bool = False) -> Pairs:
    base = (
        ("id", context.short_id),
        ("list_id", context.list_id),
        ("email", member.email),
        ("email_type", member.email_type),
        ("ip_opt", member.ip_opt),
    )
    return base + ((("ip_signup", member.ip_signup),) if subscribe else ()) + _merges(member)


def _unsubscribe(
    member: RemoteMember, action: str, reason: str, source: Source, context: EventContext
) -> WebhookEvent:
    head = (("action", action), ("reason", reason))
    fields = _member_fields(member, context)
    data = head + fields[:5] + (("campaign_id", context.campaign_id),) + fields[5:]
    return _event("unsubscribe", source, data, context)


def _profile(member: RemoteMember, source: Source, context: EventContext) -> WebhookEvent:
    return _event("profile", source, _member_fields(member, context), context)


def _upemail(
    before: RemoteMember, after: RemoteMember, source: Source, context: EventContext
) -> WebhookEvent:
    data = (
        ("list_id", context.list_id),
        ("new_id", context.short_id),
        ("new_email", after.email),
        ("old_email", before.email),
    )
    return _event("upemail", source, data, context)


def _cleaned(member: RemoteMember, context: EventContext) -> WebhookEvent:
    data = (
        ("list_id", context.list_id),
        ("campaign_id", context.campaign_id),
        ("reason", "hard"),
        ("email", member.email),
    )
    return _event("cleaned", None, data, context)


def encode(event: WebhookEvent) -> bytes:
    """The form-encoded body, bracket keys as Mailchimp sends them (``data[merges][FNAME]``)."""
    return urlencode(event.fields).encode("ascii")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Mailchimp-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
