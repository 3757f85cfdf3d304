"""JSON ⇄ payload values. Pure; an answer of the wrong shape raises FatalMailchimpError."""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from connector.core.remote import subscriber_hash as mailchimp_subscriber_hash
from connector.errors import FatalMailchimpError
from connector.mailchimp.classify import redact, rejection_kind
from connector.mailchimp.payloads import (
    AudienceInfo,
    BatchOperation,
    BatchStatus,
    BatchSubscribeReport,
    BulkSegmentReport,
    MemberOutcome,
    MemberRecord,
    MemberStatus,
    MemberWrite,
    MergeField,
    MergeValue,
    Segment,
    SegmentCondition,
    SegmentType,
    Webhook,
    WebhookEvent,
    WebhookSource,
)

JsonObject = Mapping[str, object]


# -- reading ----------------------------------------------------------------------------------------


def obj(value: object, what: str = "response") -> JsonObject:
    if not isinstance(value, Mapping):
        raise FatalMailchimpError(f"unexpected Mailchimp {what}: expected an object")
    return value


def items(data: object, key: str) -> list[JsonObject]:
    """The objects under ``key`` of a collection answer (``members``, ``segments`` …)."""
    value = obj(data).get(key, [])
    if not isinstance(value, list):
        raise FatalMailchimpError(f"unexpected Mailchimp response: {key} is not a list")
    return [obj(item, key) for item in value]


def total_items(data: object) -> int | None:
    value = obj(data).get("total_items")
    return value if isinstance(value, int) else None


def _str(data: JsonObject, key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _opt_str(data: JsonObject, key: str) -> str | None:
    value = data.get(key)
    return None if value in (None, "") else str(value)


def _int(data: JsonObject, key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FatalMailchimpError(f"unexpected Mailchimp response: {key} is not a number")
    return int(value)


def _time(data: JsonObject, key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def member(data: object) -> MemberRecord:
    fields = obj(data, "member")
    email = _str(fields, "email_address")
    raw_tags = fields.get("tags", [])
    tags = (
        frozenset(_str(obj(t, "tag"), "name") for t in raw_tags)
        if isinstance(raw_tags, list)
        else frozenset()
    )
    merge = fields.get("merge_fields", {})
    return MemberRecord(
        subscriber_hash=_str(fields, "id") or mailchimp_subscriber_hash(email),
        email_address=email,
        status=MemberStatus(_str(fields, "status")),
        last_changed=_time(fields, "last_changed"),
        merge_fields=_merge_values(merge) if isinstance(merge, Mapping) else {},
        tags=tags,
        tags_count=_int(fields, "tags_count") if "tags_count" in fields else len(tags),
        unsubscribe_reason=_opt_str(fields, "unsubscribe_reason"),
        interests=_interests(fields.get("interests")),
    )


def tag_name(data: object) -> str:
    return _str(obj(data, "tag"), "name")


def _merge_values(data: Mapping[str, object]) -> dict[str, MergeValue]:
    values: dict[str, MergeValue] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            values[key] = {str(k): str(v) for k, v in value.items()}
        elif value is None or isinstance(value, str | int | float | bool):
            values[key] = value
        else:
            values[key] = str(value)
    return values


def audience(data: object) -> AudienceInfo:
    fields = obj(data, "audience")
    stats = fields.get("stats", {})
    return AudienceInfo(
        id=_str(fields, "id"),
        name=_str(fields, "name"),
        double_optin=bool(fields.get("double_optin", False)),
        member_count=_int(obj(stats, "stats"), "member_count") if isinstance(stats, Mapping) else 0,
    )


def merge_field(data: object) -> MergeField:
    fields = obj(data, "merge field")
    return MergeField(
        merge_id=_int(fields, "merge_id"),
        tag=_str(fields, "tag"),
        name=_str(fields, "name"),
        type=_str(fields, "type"),
        required=bool(fields.get("required", False)),
    )


def segment(data: object) -> Segment:
    fields = obj(data, "segment")
    options = fields.get("options")
    options = options if isinstance(options, Mapping) else {}
    conditions = options.get("conditions", [])
    kind = _str(fields, "type")
    return Segment(
        id=_int(fields, "id"),
        name=_str(fields, "name"),
        type=SegmentType(kind) if kind in SegmentType.__members__.values() else kind,
        member_count=_int(fields, "member_count"),
        match=_opt_str(options, "match"),
        conditions=tuple(_condition(c) for c in conditions) if isinstance(conditions, list) else (),
    )


def _condition(data: object) -> SegmentCondition:
    fields = obj(data, "segment condition")
    value = fields.get("value")
    if isinstance(value, list):
        value = tuple(str(v) for v in value)
    elif not (value is None or isinstance(value, str | int | float)):
        value = str(value)
    return SegmentCondition(
        condition_type=_str(fields, "condition_type"),
        field=_str(fields, "field"),
        op=_str(fields, "op"),
        value=value,
    )


def webhook(data: object) -> Webhook:
    fields = obj(data, "webhook")
    events = obj(fields.get("events", {}), "webhook events")
    sources = obj(fields.get("sources", {}), "webhook sources")
    return Webhook(
        id=_str(fields, "id"),
        url=_str(fields, "url"),
        events=frozenset(e for e in WebhookEvent if events.get(e.value) is True),
        sources=frozenset(s for s in WebhookSource if sources.get(s.value) is True),
        signing_secret=_opt_str(fields, "signing_secret"),
    )


def batch_status(data: object) -> BatchStatus:
    fields = obj(data, "batch")
    return BatchStatus(
        id=_str(fields, "id"),
        status=_str(fields, "status"),
        total_operations=_int(fields, "total_operations"),
        finished_operations=_int(fields, "finished_operations"),
        errored_operations=_int(fields, "errored_operations"),
        submitted_at=_time(fields, "submitted_at"),
        completed_at=_time(fields, "completed_at"),
        response_body_url=_opt_str(fields, "response_body_url"),
    )


def batch_subscribe_report(data: object) -> BatchSubscribeReport:
    return BatchSubscribeReport(
        new_members=tuple(member(m) for m in items(data, "new_members")),
        updated_members=tuple(member(m) for m in items(data, "updated_members")),
        errors=tuple(_subscribe_error(e) for e in items(data, "errors")),
    )


def _subscribe_error(fields: JsonObject) -> MemberOutcome:
    email = _str(fields, "email_address")
    message = _str(fields, "error")
    field = _opt_str(fields, "field")
    field_message = _opt_str(fields, "field_message")
    return MemberOutcome(
        email_address=email,
        subscriber_hash=mailchimp_subscriber_hash(email),
        kind=rejection_kind(None, message, _opt_str(fields, "error_code"), field),
        error_code=_opt_str(fields, "error_code"),
        message=redact(f"{message} ({field_message})" if field_message else message),
        field=field,
    )


def bulk_segment_report(data: object) -> BulkSegmentReport:
    errors: list[MemberOutcome] = []
    for entry in items(data, "errors"):
        message = _str(entry, "error")
        addresses = entry.get("email_addresses", [])
        for email in addresses if isinstance(addresses, list) else []:
            errors.append(
                MemberOutcome(
                    email_address=str(email),
                    subscriber_hash=mailchimp_subscriber_hash(str(email)),
                    kind=rejection_kind(None, message),
                    error_code=None,
                    message=redact(message),
                )
            )
    return BulkSegmentReport(
        added=tuple(_address(m) for m in items(data, "members_added")),
        removed=tuple(_address(m) for m in items(data, "members_removed")),
        errors=tuple(errors),
    )


def _address(fields: JsonObject) -> str:
    return _str(fields, "email_address").lower()


# -- writing ----------------------------------------------------------------------------------------


def _interests(value: object) -> dict[str, bool]:
    """Members' ``interests`` (``{id: true|false}``); anything else reads as none."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, bool)}


def member_body(write: MemberWrite, *, for_batch: bool) -> dict[str, object]:
    """A member as JSON: for ``POST /lists/{id}`` (with tags) or for PUT (with ``status_if_new``)."""
    if MemberStatus.ARCHIVED in (write.status, write.status_if_new):
        raise ValueError("archived is never sent as a status; use archive_member")
    body: dict[str, object] = {"email_address": write.email_address}
    if write.status is not None:
        body["status"] = write.status.value
    if write.status_if_new is not None and not for_batch:
        body["status_if_new"] = write.status_if_new.value
    if write.merge_fields:
        body["merge_fields"] = dict(write.merge_fields)
    if write.tags and for_batch:
        body["tags"] = list(write.tags)
    if write.interests:
        body["interests"] = dict(write.interests)
    optional = {
        "language": write.language,
        "ip_signup": write.ip_signup,
        "timestamp_signup": _timestamp(write.timestamp_signup),
        "ip_opt": write.ip_opt,
        "timestamp_opt": _timestamp(write.timestamp_opt),
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def condition_body(condition: SegmentCondition) -> dict[str, object]:
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    body: dict[str, object] = {
        "condition_type": condition.condition_type,
        "field": condition.field,
        "op": condition.op,
    }
    if value is not None:
        body["value"] = value
    return body


def flags(chosen: Iterable[str], every: Iterable[str]) -> dict[str, bool]:
    """Every flag named explicitly (``{"api": false, …}``): Mailchimp's defaults are undocumented."""
    selected = set(chosen)
    return {str(name): name in selected for name in every}


def operation_body(operation: BatchOperation) -> dict[str, object]:
    body: dict[str, object] = {"method": operation.method.upper(), "path": operation.path}
    if operation.operation_id is not None:
        body["operation_id"] = operation.operation_id
    if operation.params:
        body["params"] = dict(operation.params)
    if operation.body is not None:
        body["body"] = json.dumps(operation.body, separators=(",", ":"))
    return body


def addresses(emails: Sequence[str]) -> list[str]:
    return [email.strip().lower() for email in emails]
