"""Mailchimp audience webhooks as values: parse the form body, key it for de-duplication, decide effects.

Pure: the body, the policy switches and the audience's purposes are arguments. The shell stores the
event and performs the effects this module returns, in one transaction.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal
from urllib.parse import parse_qsl, unquote_to_bytes

from connector.core.model import SuppressionReason
from connector.core.policy_settings import PolicySettings
from connector.core.specificity import Coverage, InterestMapping, Ticked, mailchimp_sign_up


class EventType(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PROFILE = "profile"
    UPEMAIL = "upemail"
    CLEANED = "cleaned"
    CAMPAIGN = "campaign"


class PayloadError(ValueError):
    """A body that is not a Mailchimp webhook event; the message names the field."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event. ``email`` is the member's (new, for ``upemail``) address, trimmed and lower-cased."""

    type: EventType
    fired_at: datetime | None
    list_id: str | None
    email: str | None
    old_email: str | None = None
    member_id: str | None = None
    reason: str | None = None
    action: str | None = None
    campaign_id: str | None = None
    ip_opt: str | None = None
    timestamp_opt: datetime | None = None
    merges: Mapping[str, str] = field(default_factory=dict)
    dedup_key: str = ""
    groups: tuple[tuple[str, str], ...] | None = None
    """``data[merges][GROUPINGS]`` as (group title, ticked interests ``"A, B"``); ``None`` without any."""


def parse_form(body: bytes) -> dict[str, object]:
    """PHP-style bracket keys (``data[merges][FNAME]``) as nested dictionaries."""
    return _nested(form_pairs(body))


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The form's ``(name, value)`` pairs, exactly as ``urllib.parse.parse_qsl`` reads the decoded body
    (blank values kept, strict); ``PayloadError`` for a body that is not UTF-8 or not form-encoded.

    Split and unquoted as bytes, the hot path of every webhook: ``&`` and ``=`` are ASCII, so they
    never fall inside a UTF-8 sequence, and percent-decoding the bytes then decoding them with
    replacement gives what ``unquote`` gives for the text. Field names repeat from event to event and
    are decoded once (``_NAMES``)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body: not a form-encoded payload") from None
    if not body:
        return []
    pairs = []
    for part in body.split(b"&"):
        name, equals, value = part.partition(b"=")
        if not equals:  # strict parsing: a field without "=" (an empty one too) is refused
            raise PayloadError("body: not a form-encoded payload")
        text = _NAMES.get(name)
        if text is None:
            text = _unquoted(name)
            if len(_NAMES) < _NAMES_HELD:
                _NAMES[name] = text
        pairs.append((text, _unquoted(value)))
    return pairs


def _unquoted(raw: bytes) -> str:
    """``unquote(text.replace("+", " "))`` of a field's part, from its UTF-8 bytes."""
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw.decode("utf-8")  # a part of a valid UTF-8 body cut at ASCII bytes is valid
    return unquote_to_bytes(raw).decode("utf-8", "replace")


_NAMES: dict[bytes, str] = {}
"""Field names as received → decoded (bounded: a sender cannot grow it without end)."""
_NAMES_HELD = 512


def _nested(pairs: list[tuple[str, str]]) -> dict[str, object]:
    root: dict[str, object] = {}
    for key, value in pairs:
        _put(root, _key_path(key), value)
    return root


def _key_path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    return [head] + [part for part in rest.rstrip("]").split("][") if rest] if rest else [head]


def _put(root: dict[str, object], path: list[str], value: str) -> None:
    node = root
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def parse_event(body: bytes) -> WebhookEvent:
    """The typed event of a webhook body; ``PayloadError`` names what is missing or wrong."""
    pairs = form_pairs(body)
    form = _nested(pairs)
    kind = _text(form, "type")
    if kind not in EventType.__members__.values():
        raise PayloadError(f"type: unknown webhook event type {kind!r}")
    data = form.get("data")
    data = data if isinstance(data, dict) else {}
    event = _event(EventType(kind), parse_fired_at(_text(form, "fired_at")), data)
    return replace(event, dedup_key=_key(event, _canonical(pairs)))


def _event(kind: EventType, fired_at: datetime | None, data: dict[str, object]) -> WebhookEvent:
    upemail = kind is EventType.UPEMAIL
    merges = data.get("merges")
    return WebhookEvent(
        type=kind,
        fired_at=fired_at,
        list_id=_text(data, "list_id") or None,
        email=_address(_text(data, "new_email" if upemail else "email")),
        old_email=_address(_text(data, "old_email")) if upemail else None,
        member_id=_text(data, "new_id" if upemail else "id") or None,
        reason=_text(data, "reason") or None,
        action=_text(data, "action") or None,
        campaign_id=_text(data, "campaign_id") or (_text(data, "id") if kind is EventType.CAMPAIGN else None),
        ip_opt=_text(data, "ip_opt") or None,
        timestamp_opt=parse_fired_at(_text(data, "timestamp_opt")),
        merges={k: v for k, v in merges.items() if isinstance(v, str)} if isinstance(merges, dict) else {},
        groups=_groups(merges) if isinstance(merges, dict) else None,
    )


def _groups(merges: dict[str, object]) -> tuple[tuple[str, str], ...] | None:
    """Mailchimp's ``GROUPINGS[0][name]`` / ``GROUPINGS[0][groups]`` pairs, in index order; else the flat
    ``INTERESTS`` (ticked interest names of every group) under an empty category."""
    node = merges.get("GROUPINGS")
    if not isinstance(node, dict):
        flat = merges.get("INTERESTS")
        return (("", flat),) if isinstance(flat, str) else None
    pairs = [
        (_text(group, "name"), _text(group, "groups"))
        for _, group in sorted(node.items())
        if isinstance(group, dict) and _text(group, "name")
    ]
    return tuple(pairs) or None


def _text(node: Mapping[str, object], key: str) -> str:
    value = node.get(key)
    return value.strip() if isinstance(value, str) else ""


def _address(text: str) -> str | None:
    return text.lower() or None


def parse_fired_at(text: str) -> datetime | None:
    """Mailchimp's ``YYYY-MM-DD HH:MM:SS`` (UTC), or ISO 8601; ``None`` when empty."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise PayloadError(f"fired_at: not a timestamp: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def clock_checked(event: WebhookEvent, received_at: datetime, tolerance_seconds: int) -> WebhookEvent:
    """The event with ``fired_at`` (and ``timestamp_opt``) later than ``received_at`` + tolerance replaced by
    ``received_at``: a sender's clock ahead of ours never leaves an opt-out waiting to take effect."""
    limit = received_at + timedelta(seconds=tolerance_seconds)
    fired = event.fired_at if event.fired_at is None or event.fired_at <= limit else received_at
    opt = event.timestamp_opt if event.timestamp_opt is None or event.timestamp_opt <= limit else received_at
    return replace(event, fired_at=fired, timestamp_opt=opt)


def dedup_key(event: WebhookEvent, body: bytes) -> str:
    """Type + list + address (or id) + ``fired_at`` + a hash of the payload, hashed to 64 hex."""
    return _key(event, _canonical(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))


def _key(event: WebhookEvent, canonical: bytes) -> str:
    payload = hashlib.sha256(canonical).hexdigest()
    who = event.email or event.member_id or event.campaign_id or ""
    fired = event.fired_at.isoformat() if event.fired_at else ""
    parts = "|".join((event.type.value, event.list_id or "", who, fired, payload))
    return hashlib.sha256(parts.encode("utf-8")).hexdigest()


def _canonical(pairs: list[tuple[str, str]]) -> bytes:
    """The pairs of the body in sorted order, so that a reordered re-delivery keys the same."""
    return "&".join(f"{k}={v}" for k, v in sorted(pairs)).encode("utf-8")


# --- effects ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Withdraw consent for the audience's purposes (e-mail), as of ``at``."""

    purposes: tuple[str, ...]
    at: datetime
    evidence: str


@dataclass(frozen=True, slots=True)
class Object:
    """An objection to all direct marketing, as of ``at``."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Suppress:
    reason: SuppressionReason


@dataclass(frozen=True, slots=True)
class ChangeAddress:
    old_email: str
    new_email: str


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    fields: Mapping[str, str]


NO_COVERAGE = Coverage(())


@dataclass(frozen=True, slots=True)
class Confirm:
    """A Mailchimp sign-up (the member is ``subscribed`` there now).

    It confirms our own sign-ups awaiting double opt-in for ``purposes`` (the audience's). With
    ``trusted`` (Mailchimp's form counts as consent, P6) it is also a grant of ``coverage.granted``
    only — the mapped interests it ticked, else the audience's ``mailchimp_signup_purposes`` — with the
    notice ``notice_version`` (``None``: unknown); the shell confirms that grant only when the member was
    ``pending`` in Mailchimp before (Mailchimp's own double opt-in).
    """

    purposes: tuple[str, ...]
    at: datetime
    ip: str | None
    trusted: bool
    coverage: Coverage = NO_COVERAGE
    notice_version: str | None = None


Effect = Withdraw | Object | Suppress | ChangeAddress | UpdateProfile | Confirm


@dataclass(frozen=True, slots=True)
class Rules:
    """What the policy says about Mailchimp's events, and the audience the event belongs to."""

    purposes: tuple[str, ...]
    merge_fields: Mapping[str, str]
    unsubscribe_means: Literal["withdrawal", "objection"] = "withdrawal"
    trust_signup_forms: bool = False
    policy: PolicySettings = field(default_factory=PolicySettings)
    interests: tuple[InterestMapping, ...] = ()
    signup_purposes: tuple[str, ...] = ("newsletter",)
    notice_version: str | None = None
    """The audience's Mailchimp form wording, where the company configured it."""


def effects(event: WebhookEvent, rules: Rules, received_at: datetime) -> tuple[Effect, ...]:
    """What the event changes in the store; empty for events that are only recorded."""
    at = event.fired_at or received_at
    match event.type:
        case EventType.UNSUBSCRIBE:
            return _unsubscribe(event, rules, at)
        case EventType.CLEANED:
            return (Suppress(SuppressionReason.CLEANED),)
        case EventType.UPEMAIL if event.old_email and event.email and event.old_email != event.email:
            return (ChangeAddress(event.old_email, event.email),)
        case EventType.PROFILE:
            fields = {rules.merge_fields[t]: v for t, v in event.merges.items() if t in rules.merge_fields}
            return (UpdateProfile(fields),) if fields else ()
        case EventType.SUBSCRIBE:
            when = event.timestamp_opt or at
            return (_sign_up(event, rules, when),)
    return ()


def _unsubscribe(event: WebhookEvent, rules: Rules, at: datetime) -> tuple[Effect, ...]:
    if event.action == "delete":
        return ()  # an admin archived the member: not the person's opt-out
    evidence = f"mailchimp unsubscribe, campaign {event.campaign_id or 'none'}"
    if event.reason == "abuse":
        return (
            Object(at, f"mailchimp spam complaint, campaign {event.campaign_id or 'none'}"),
            Suppress(SuppressionReason.COMPLAINED),
        )
    if rules.unsubscribe_means == "objection":
        return (Object(at, evidence),)
    return (Withdraw(rules.purposes, at, evidence),)


def _sign_up(event: WebhookEvent, rules: Rules, at: datetime) -> Confirm:
    if not rules.trust_signup_forms:
        return Confirm(rules.purposes, at, event.ip_opt, False)
    ticked = Ticked.from_groups(event.groups) if event.groups else None
    coverage = mailchimp_sign_up(rules.purposes, rules.policy, rules.interests, rules.signup_purposes, ticked)
    return Confirm(rules.purposes, at, event.ip_opt, True, coverage, rules.notice_version)
