"""The sandbox's data: audiences with their members, merge fields, segments and webhooks, and batches.

Plain mutable records guarded by one re-entrant lock; members themselves are the immutable
:class:`~connector.core.remote.RemoteMember` values computed by :mod:`connector.core.transitions`.
"""

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.core.remote import RemoteMember


def short_id(*parts: object, length: int = 10) -> str:
    """A deterministic hex id (Mailchimp's list ids and unique e-mail ids look like this)."""
    text = ":".join(map(str, parts))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:length]


def member_ids(list_id: str, subscriber_hash: str) -> tuple[str, str]:
    """A member's ``unique_email_id`` and ``contact_id``: ``short_id("unique", …)`` and
    ``short_id("contact", …, length=32)``, formatted directly (every new member of a batch needs both)."""
    unique = hashlib.md5(f"unique:{list_id}:{subscriber_hash}".encode(), usedforsecurity=False)
    contact = hashlib.md5(f"contact:{list_id}:{subscriber_hash}".encode(), usedforsecurity=False)
    return unique.hexdigest()[:10], contact.hexdigest()


@dataclass
class MergeFieldRecord:
    merge_id: int
    tag: str
    name: str
    type: str
    required: bool = False
    default_value: str = ""
    public: bool = True
    display_order: int = 1
    help_text: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SegmentRecord:
    """A saved segment (``conditions`` over tags) or a static one, which is what a tag is."""

    id: int
    name: str
    type: str
    created_at: datetime
    updated_at: datetime
    match: str = "any"
    conditions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class WebhookRecord:
    id: str
    url: str
    events: dict[str, bool]
    sources: dict[str, bool]
    signing_secret: str | None = None
    enabled: bool = True


@dataclass
class MemberExtras:
    """Per-member data Mailchimp reports that the pure member value does not model."""

    unique_email_id: str
    web_id: int
    contact_id: str
    tag_dates: dict[str, datetime] = field(default_factory=dict)


@dataclass
class Audience:
    id: str
    web_id: int
    name: str
    settings: dict[str, Any]
    date_created: datetime
    merge_fields: dict[int, MergeFieldRecord] = field(default_factory=dict)
    members: dict[str, RemoteMember] = field(default_factory=dict)
    extras: dict[str, MemberExtras] = field(default_factory=dict)
    segments: dict[int, SegmentRecord] = field(default_factory=dict)
    webhooks: dict[str, WebhookRecord] = field(default_factory=dict)

    def present_members(self) -> Iterator[RemoteMember]:
        """Members that exist for the API: not permanently deleted."""
        return (member for member in self.members.values() if not member.forgotten)

    def tag_segment(self, name: str) -> SegmentRecord | None:
        """The static segment named ``name``: looked up by an index of ids checked on every use (segments
        are added, renamed and deleted in several places), rescanned only when the index is stale."""
        index: dict[str, int] = self.__dict__.setdefault("_tag_ids", {})
        found = self.segments.get(index.get(name, -1))
        if found is not None and found.type == "static" and found.name == name:
            return found
        found = next((s for s in self.segments.values() if s.type == "static" and s.name == name), None)
        if found is not None:
            index[name] = found.id
        return found

    def merge_field_by_tag(self, tag: str) -> MergeFieldRecord | None:
        for found in self.merge_fields.values():  # a handful: a loop beats an index to keep fresh
            if found.tag == tag:
                return found
        return None


@dataclass
class CampaignRecord:
    """A campaign as a marketer left it in Mailchimp's UI: its audience, status and recipients.

    ``segment_opts`` is Mailchimp's ``recipients.segment_opts`` (``saved_segment_id``, ``match``,
    ``conditions``, ``prebuilt_segment_id``); ``None`` sends to the whole audience.
    """

    id: str
    web_id: int
    list_id: str
    status: str
    type: str
    title: str
    subject_line: str
    create_time: datetime
    segment_opts: dict[str, Any] | None = None
    send_time: datetime | None = None


@dataclass
class BatchRecord:
    id: str
    status: str
    total_operations: int
    submitted_at: datetime
    finished_operations: int = 0
    errored_operations: int = 0
    completed_at: datetime | None = None
    result: bytes | None = None
    result_url: str = ""


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A (simulated) double opt-in e-mail the sandbox would have sent."""

    list_id: str
    subscriber_hash: str
    sent_at: datetime
    email: str = ""
    """The address it went to (the member's at the time)."""


@dataclass
class StateData:
    """Everything that persists: what ``--state FILE`` snapshots."""

    audiences: dict[str, Audience] = field(default_factory=dict)
    batches: dict[str, BatchRecord] = field(default_factory=dict)
    confirmations: list[Confirmation] = field(default_factory=list)
    counter: int = 0
    campaigns: dict[str, CampaignRecord] = field(default_factory=dict)


class SandboxState:
    """The sandbox's data and the lock that every reader and writer holds."""

    def __init__(self, data: StateData | None = None) -> None:
        self.lock = threading.RLock()
        self.data = data or StateData()

    def next_number(self) -> int:
        with self.lock:
            self.data.counter += 1
            return self.data.counter

    def audience(self, list_id: str) -> Audience | None:
        return self.data.audiences.get(list_id)

    def member(self, list_id: str, subscriber_hash: str) -> RemoteMember | None:
        """A present (not permanently deleted) member, for tests and the demo."""
        audience = self.audience(list_id)
        member = audience.members.get(subscriber_hash) if audience else None
        return None if member is None or member.forgotten else member

    def reset(self) -> None:
        with self.lock:
            self.data = StateData()
