"""Reading member fields from request bodies, with Mailchimp's validation errors."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from connector.core.remote import MemberStatus, RemoteMember
from connector.sandbox.problems import ApiProblemError, invalid
from connector.sandbox.shaping import parse_timestamp
from connector.sandbox.state import Audience

CREATE_STATUSES = tuple(s.value for s in MemberStatus if s is not MemberStatus.ARCHIVED)
PATCH_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")
MAX_TEXT_BYTES = 255
ADDRESS_PARTS = ("addr1", "addr2", "city", "state", "zip", "country")


def status_field(
    body: dict[str, Any], name: str, allowed: tuple[str, ...] = CREATE_STATUSES
) -> MemberStatus | None:
    raw = body.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise invalid(name, f"Value must be one of: {', '.join(allowed)}")
    return MemberStatus(raw)


def email_field(body: dict[str, Any], *, required: bool = True) -> str | None:
    raw = body.get("email_address")
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("email_address", "This value should not be blank.")
    return raw


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "  ".join(str(value.get(part, "")) for part in ADDRESS_PARTS if value.get(part))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_values(
    audience: Audience, body: dict[str, Any], *, creating: bool, skip_validation: bool = False
) -> dict[str, str]:
    """Merge-field values keyed by tag; 400 'Your merge fields were invalid.' naming each bad field."""
    raw = body.get("merge_fields") or {}
    if not isinstance(raw, dict):
        raise invalid("merge_fields", "merge_fields must be an object")
    values: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for tag, value in raw.items():
        field = audience.merge_field_by_tag(str(tag).upper())
        text = _text(value)
        if field is None:
            errors.append({"field": f"merge_fields.{tag}", "message": f"Merge field {tag} does not exist."})
        elif len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            errors.append({"field": f"merge_fields.{tag}", "message": "Value exceeds 255 bytes."})
        else:
            values[field.tag] = text
    if creating and not skip_validation:
        errors += _missing_required(audience, values)
    if errors:
        raise ApiProblemError(400, "Invalid Resource", "Your merge fields were invalid.", errors)
    return values


def _missing_required(audience: Audience, values: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"field": f"merge_fields.{field.tag}", "message": "This value should not be blank."}
        for field in audience.merge_fields.values()
        if field.required and not values.get(field.tag) and not field.default_value
    ]


def tag_names(body: dict[str, Any], name: str = "tags") -> frozenset[str]:
    raw = body.get(name) or []
    if not isinstance(raw, list) or not all(isinstance(tag, str) and tag.strip() for tag in raw):
        raise invalid(name, f"{name} must be an array of tag names")
    return frozenset(tag.strip() for tag in raw)


def with_details(member: RemoteMember, body: dict[str, Any]) -> RemoteMember:
    """Apply the descriptive fields Mailchimp stores as sent (e-mail type, opt-in evidence)."""
    changes: dict[str, Any] = {}
    if body.get("email_type") is not None:
        if body["email_type"] not in ("html", "text"):
            raise invalid("email_type", "email_type must be 'html' or 'text'")
        changes["email_type"] = body["email_type"]
    for name in ("ip_signup", "ip_opt"):
        if isinstance(body.get(name), str):
            changes[name] = body[name]
    for name in ("timestamp_signup", "timestamp_opt"):
        if isinstance(body.get(name), str) and body[name]:
            changes[name] = _moment(body[name], name)
    if "interests" in body:
        changes["interests"] = _interests(member, body["interests"])
    return replace(member, **changes) if changes else member


def _interests(member: RemoteMember, raw: Any) -> tuple[tuple[str, bool], ...]:
    """``interests`` merged into the member's: ids sent are set, others kept (as Mailchimp does)."""
    if not isinstance(raw, dict) or not all(isinstance(v, bool) for v in raw.values()):
        raise invalid("interests", "interests must be an object of interest ids to true or false")
    return tuple(sorted({**dict(member.interests), **{str(k): v for k, v in raw.items()}}.items()))


def _moment(text: str, name: str) -> datetime:
    return parse_timestamp(text.replace(" ", "T", 1) if "T" not in text else text, name)
