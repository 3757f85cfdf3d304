"""Sort Mailchimp answers by how the caller reacts: retry, stop, or record a per-member rejection.

Pure functions of (status, headers, body text) or of a transport exception; no I/O. Match on status and
``title`` only: Mailchimp's problem ``type`` URL has changed over the years (mailchimp-behaviour §8).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import requests

from connector.mailchimp.payloads import RejectionKind

_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+")


class Verdict(StrEnum):
    OK = "ok"
    RETRYABLE = "retryable"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem+json document, or what we could make of a non-JSON error body. Addresses redacted."""

    status: int | None
    title: str | None
    detail: str | None
    instance: str | None = None
    field_errors: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        parts = [p for p in (self.title, self.detail) if p]
        return ": ".join(parts) if parts else "no details"


@dataclass(frozen=True, slots=True)
class Classification:
    verdict: Verdict
    reason: str
    problem: Problem | None = None
    retry_after: float | None = None
    throttled: bool = False


def redact(text: str) -> str:
    """Replace anything that looks like an e-mail address with ``<email>``."""
    return _EMAIL.sub("<email>", text)


def parse_problem(body: str, status: int | None = None) -> Problem:
    """Parse ``err.text``-style bodies: a JSON string (problem+json), HTML from the CDN, or nothing."""
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        detail = "empty body" if not body.strip() else "non-JSON body"
        return Problem(status=status, title=None, detail=detail)
    return Problem(
        status=_int_or(data.get("status"), status),
        title=_text(data.get("title")),
        detail=_text(data.get("detail")),
        instance=_text(data.get("instance")),
        field_errors=_field_errors(data.get("errors")),
    )


def classify_response(status: int, headers: Mapping[str, str], body: str) -> Classification:
    """429, a body-less 403, 408 and 5xx are retryable; every other 4xx is fatal; 2xx/3xx are fine."""
    if status < 400:
        return Classification(Verdict.OK, "ok")
    problem = parse_problem(body, status)
    retry_after = retry_after_seconds(headers)
    if status == 429 or (status == 403 and not body.strip()):
        return Classification(Verdict.RETRYABLE, "throttled", problem, retry_after, throttled=True)
    if status == 408 or status >= 500:
        return Classification(Verdict.RETRYABLE, "server error", problem, retry_after)
    return Classification(Verdict.FATAL, "client error", problem)


def classify_transport_error(error: requests.RequestException) -> Classification:
    """Timeouts, refused or reset connections are retryable; a bad URL or redirect loop is not."""
    name = type(error).__name__
    transient = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    if isinstance(error, transient):
        return Classification(Verdict.RETRYABLE, name)
    return Classification(Verdict.FATAL, name)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or ``None``."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


_KINDS_BY_TEXT: tuple[tuple[str, RejectionKind], ...] = (
    ("forgotten email not subscribed", RejectionKind.FORGOTTEN),
    ("permanently deleted", RejectionKind.FORGOTTEN),
    ("member in compliance state", RejectionKind.COMPLIANCE_STATE),
    ("compliance state", RejectionKind.COMPLIANCE_STATE),
    ("member exists", RejectionKind.MEMBER_EXISTS),
    ("already a list member", RejectionKind.MEMBER_EXISTS),
    ("looks fake or invalid", RejectionKind.INVALID_ADDRESS),
    ("signed up to a lot of lists", RejectionKind.SIGNUP_THROTTLED),
    ("merge fields were invalid", RejectionKind.INVALID_MERGE_FIELDS),
    ("resource not found", RejectionKind.NOT_FOUND),
    ("invalid resource", RejectionKind.INVALID_RESOURCE),
)


def rejection_kind(
    title: str | None, detail: str | None, error_code: str | None = None, field: str | None = None
) -> RejectionKind:
    """Name why one member was refused, from a problem's title/detail or a batch ``errors[]`` entry."""
    text = f"{title or ''} | {detail or ''}".lower()
    for needle, kind in _KINDS_BY_TEXT:
        if needle in text:
            return kind
    if error_code == "ERROR_CONTACT_EXISTS":
        return RejectionKind.MEMBER_EXISTS
    if field and field.startswith("merge_fields"):
        return RejectionKind.INVALID_MERGE_FIELDS
    return RejectionKind.OTHER


def problem_rejection_kind(problem: Problem) -> RejectionKind:
    """The rejection kind of a single-member call's problem document (400 or 404)."""
    if problem.status == 404:
        return RejectionKind.NOT_FOUND
    field = problem.field_errors[0][0] if problem.field_errors else None
    return rejection_kind(problem.title, problem.detail, field=field)


def _field_errors(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        (str(item.get("field", "")), redact(str(item.get("message", ""))))
        for item in value
        if isinstance(item, dict)
    )


def _text(value: object) -> str | None:
    return redact(str(value)) if value is not None else None


def _int_or(value: object, default: int | None) -> int | None:
    return value if isinstance(value, int) else default
