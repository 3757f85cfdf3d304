"""Typed values that cross the gateway: what we send to Mailchimp and what it answers.

Frozen dataclasses only; JSON encoding and decoding live in :mod:`connector.mailchimp.codec`.
Per-member rejections are values (:class:`MemberOutcome`), never exceptions.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from connector.core.remote import MemberStatus as MemberStatus  # re-export: the core's vocabulary
from connector.core.remote import RemoteMember, merge_fields_of

MergeValue = str | int | float | bool | Mapping[str, str] | None
"""A merge-field value: text, number, or an address object (``addr1``, ``city`` …)."""


class RejectionKind(StrEnum):
    """Why Mailchimp refused one member. Terminal kinds are recorded, never retried."""

    COMPLIANCE_STATE = "compliance_state"
    """``Member In Compliance State``: unsubscribed, bounced or complained; cannot be subscribed."""
    FORGOTTEN = "forgotten"
    """``Forgotten Email Not Subscribed``: permanently deleted; only a hosted sign-up brings it back."""
    INVALID_ADDRESS = "invalid_address"
    """``… looks fake or invalid``."""
    SIGNUP_THROTTLED = "signup_throttled"
    """``… has signed up to a lot of lists very recently``."""
    INVALID_MERGE_FIELDS = "invalid_merge_fields"
    MEMBER_EXISTS = "member_exists"
    NOT_FOUND = "not_found"
    INVALID_RESOURCE = "invalid_resource"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    """One member Mailchimp rejected. ``message`` has e-mail addresses replaced by ``<email>``.

    ``email_address`` is ``None`` when the call named the member by hash only (PATCH, tags); it is data
    for the caller and must never be logged.
    """

    email_address: str | None
    subscriber_hash: str
    kind: RejectionKind
    error_code: str | None
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class MemberWrite:
    """A member as we want it. ``status_if_new`` applies to PUT only; ``tags`` to batch subscribe only."""

    email_address: str
    status: MemberStatus | None = None
    status_if_new: MemberStatus | None = None
    merge_fields: Mapping[str, MergeValue] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    interests: Mapping[str, bool] = field(default_factory=dict)
    language: str | None = None
    ip_signup: str | None = None
    timestamp_signup: datetime | None = None
    ip_opt: str | None = None
    timestamp_opt: datetime | None = None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member as Mailchimp reports it. ``tags`` holds at most 50 names; ``tags_count`` is the total."""

    subscriber_hash: str
    email_address: str
    status: MemberStatus
    last_changed: datetime | None = None
    merge_fields: Mapping[str, MergeValue] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    tags_count: int = 0
    unsubscribe_reason: str | None = None
    interests: Mapping[str, bool] = field(default_factory=dict)

    def to_remote(self) -> RemoteMember:
        """The mirror's value for this member (merge values as text; address parts joined by two spaces)."""
        return RemoteMember(
            subscriber_hash=self.subscriber_hash,
            email=self.email_address.strip().lower(),
            status=self.status,
            merge_fields=merge_fields_of({k: _merge_text(v) for k, v in self.merge_fields.items()}),
            tags=self.tags,
            last_changed=self.last_changed or _EPOCH,
            unsubscribe_reason=self.unsubscribe_reason,
            interests=tuple(sorted(self.interests.items())),
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _merge_text(value: MergeValue) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "  ".join(str(part) for part in value.values() if part)
    return str(value)


@dataclass(frozen=True, slots=True)
class BatchSubscribeReport:
    """The answer to ``POST /lists/{list_id}``: a 200 with errors is normal, read ``errors``."""

    new_members: tuple[MemberRecord, ...]
    updated_members: tuple[MemberRecord, ...]
    errors: tuple[MemberOutcome, ...]


@dataclass(frozen=True, slots=True)
class BulkSegmentReport:
    """The answer to ``POST /lists/{list_id}/segments/{segment_id}`` (addresses lower-cased)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    errors: tuple[MemberOutcome, ...]


@dataclass(frozen=True, slots=True)
class ListContact:
    """The postal contact Mailchimp requires on every audience (anti-spam law footer)."""

    company: str
    address1: str
    city: str
    zip: str
    country: str
    state: str = ""


@dataclass(frozen=True, slots=True)
class AudienceInfo:
    id: str
    name: str
    double_optin: bool
    member_count: int


@dataclass(frozen=True, slots=True)
class MergeField:
    merge_id: int
    tag: str
    name: str
    type: str
    required: bool = False


class SegmentType(StrEnum):
    STATIC = "static"
    """A tag: the segment id is the tag id."""
    SAVED = "saved"


@dataclass(frozen=True, slots=True)
class SegmentCondition:
    """A saved-segment condition, e.g. ``StaticSegment static_segment static_is 123`` (has tag 123)."""

    condition_type: str
    field: str
    op: str
    value: str | int | float | tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    name: str
    type: SegmentType | str
    member_count: int
    match: str | None = None
    conditions: tuple[SegmentCondition, ...] = ()


class WebhookEvent(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PROFILE = "profile"
    CLEANED = "cleaned"
    UPEMAIL = "upemail"
    CAMPAIGN = "campaign"


class WebhookSource(StrEnum):
    USER = "user"
    ADMIN = "admin"
    API = "api"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: frozenset[WebhookEvent]
    sources: frozenset[WebhookSource]
    signing_secret: str | None = field(default=None, repr=False)
    """Only in the create response, once; never retrievable later."""


@dataclass(frozen=True, slots=True)
class BatchOperation:
    """One ``/batches`` operation. ``path`` is relative to ``/3.0``; ``body`` is sent as a JSON string."""

    method: str
    path: str
    operation_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class BatchStatus:
    id: str
    status: str
    """``pending | preprocessing | started | finalizing | finished``."""
    total_operations: int
    finished_operations: int
    """Includes the errored ones."""
    errored_operations: int
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    response_body_url: str | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def succeeded(self) -> bool:
        return self.finished and self.errored_operations == 0


@dataclass(frozen=True, slots=True)
class BatchOperationResult:
    """One entry of a batch's result archive; ``response`` is the decoded JSON (or raw text)."""

    operation_id: str | None
    status_code: int
    response: object
