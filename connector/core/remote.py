"""The Mailchimp side of a contact: one audience member as Mailchimp reports it. Pure values, no I/O.

``RemoteMember`` is what the sync engine's mirror holds, what the sandbox stores and what
:mod:`connector.core.transitions` computes; all three share this one definition.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MergeFields = tuple[tuple[str, str], ...]
"""Merge-field values keyed by merge tag (``FNAME``), as sorted pairs so that a member stays hashable."""


class MemberStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"
    PENDING = "pending"
    TRANSACTIONAL = "transactional"
    ARCHIVED = "archived"


def normalise_email(email: str) -> str:
    """Trim and lower-case an address, the form Mailchimp hashes."""
    return email.strip().lower()


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the hex MD5 of the normalised address."""
    return hashlib.md5(normalise_email(email).encode("utf-8"), usedforsecurity=False).hexdigest()


def merge_fields_of(values: Mapping[str, str]) -> MergeFields:
    """The frozen form of merge-field values."""
    return tuple(sorted(values.items()))


@dataclass(frozen=True, slots=True)
class RemoteMember:
    """One member of one audience, as Mailchimp would report it.

    ``status`` is what ``GET`` shows (``archived`` for an archived member, whose earlier status is kept
    in ``status_before_archive`` because Mailchimp still remembers it). ``forgotten`` marks a
    permanently deleted address: a PII-free tombstone (empty ``email``) that Mailchimp answers 404 for
    and refuses to re-add. ``in_compliance_state`` marks a member that may not be set ``subscribed``.
    """

    subscriber_hash: str
    email: str
    status: MemberStatus
    merge_fields: MergeFields
    tags: frozenset[str]
    last_changed: datetime
    forgotten: bool = False
    unsubscribe_reason: str | None = None
    in_compliance_state: bool = False
    status_before_archive: MemberStatus | None = None
    email_type: str = "html"
    ip_signup: str = ""
    timestamp_signup: datetime | None = None
    ip_opt: str = ""
    timestamp_opt: datetime | None = None
    interests: tuple[tuple[str, bool], ...] = ()
    """``interests`` as (interest id, ticked) pairs, sorted."""

    @property
    def merge_map(self) -> dict[str, str]:
        """Merge-field values as a plain dict."""
        return dict(self.merge_fields)

    @property
    def is_archived(self) -> bool:
        return self.status is MemberStatus.ARCHIVED

    @property
    def is_present(self) -> bool:
        """On the audience as a contact: neither archived nor permanently deleted."""
        return not self.forgotten and not self.is_archived
