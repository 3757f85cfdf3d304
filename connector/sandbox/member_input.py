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
_STATUSES = {status.value: status for status in MemberStatus}
DETAIL_FIELDS = frozenset(
    {"email_type", "ip_signup", "ip_opt", "timestamp_signup", "timestamp_opt", "interests"}
)


def status_field(
    body: dict[str, Any], name: str, allowed: tuple[str, ...] = CREATE_STATUSES
) -> MemberStatus | None:
    raw = body.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise invalid(name, f"Value must be one of: {', '.join(allowed)}")
    return _STATUSES[raw]


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
    return MergeFieldCheck(audience).values(body, creating=creating, skip_validation=skip_validation)


class MergeFieldCheck:
    """:func:`merge_values` for many members of one audience (a batch subscribe): the audience's merge
    fields indexed once. Used while the audience's fields do not change (under the state lock)."""

    def __init__(self, audience: Audience) -> None:
        self._by_tag = {f.tag: f for f in audience.merge_fields.values()}
        self._required = [f for f in audience.merge_fields.values() if f.required and not f.default_value]

    def values(
        self, body: dict[str, Any], *, creating: bool, skip_validation: bool = False
    ) -> dict[str, str]:
        raw = body.get("merge_fields") or {}
        if not isinstance(raw, dict):
            raise invalid("merge_fields", "merge_fields must be an object")
        values: dict[str, str] = {}
        errors: list[dict[str, str]] = []
        for tag, value in raw.items():
            field = self._by_tag.get(str(tag).upper())
            text = value if type(value) is str else _text(value)
            if field is None:
                errors.append(
                    {"field": f"merge_fields.{tag}", "message": f"Merge field {tag} does not exist."}
                )
            elif len(text) * 4 > MAX_TEXT_BYTES and len(text.encode("utf-8")) > MAX_TEXT_BYTES:
                errors.append({"field": f"merge_fields.{tag}", "message": "Value exceeds 255 bytes."})
            else:
                values[field.tag] = text
        if creating and not skip_validation and self._required:
            errors += [
                {"field": f"merge_fields.{field.tag}", "message": "This value should not be blank."}
                for field in self._required
                if not values.get(field.tag)
            ]
        if errors:
            raise ApiProblemError(400, "Invalid Resource", "Your merge fields were invalid.", errors)
        return values


def tag_names(body: dict[str, Any], name: str = "tags") -> frozenset[str]:
    raw = body.get(name) or []
    names = [tag.strip() if isinstance(tag, str) else "" for tag in raw] if isinstance(raw, list) else [""]
    if "" in names:
        raise invalid(name, f"{name} must be an array of tag names")
    return frozenset(names)


def with_details(member: RemoteMember, body: dict[str, Any]) -> RemoteMember:
    """Apply the descriptive fields Mailchimp stores as sent (e-mail type, opt-in evidence)."""
    if body.keys().isdisjoint(DETAIL_FIELDS):  # a sync's batch entries carry none
        return member
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
