"""The import plan: every decision of an import as one immutable value.

The planner (``planner.build_plan``) reads the files and the store and returns an :class:`ImportPlan`;
the report (``report.py``) renders it and the applier (``applier.apply_plan``) writes exactly it. A
dry-run and ``--apply`` therefore show and do the same thing by construction.

Contacts are keyed by their normalised e-mail address (``ext:<customer id>`` or ``tel:<E.164>`` for
rows without one); ``contact_id`` is ``None`` for a contact the import creates.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from typing import NamedTuple

from connector.core.model import Channel, ConsentAction, ConsentMethod, RelationshipKind, SuppressionReason
from connector.imports.parsing.rows import RowError
from connector.imports.reader import FileReport

CONTACT_FIELDS = ("phone", "first_name", "last_name", "external_id", "locale")


class ContactStatus(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Line(NamedTuple):
    """Where a row starts: ``file:line`` (a named tuple: one is held per row of a large import, and a
    frozen dataclass costs four times as much to build)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ContactDecision(NamedTuple):
    """One contact as the import leaves it: its final field values and which of them change (a named
    tuple: a large import makes one per person, and a frozen dataclass costs five times as much)."""

    key: str
    contact_id: str | None
    email: str | None
    values: tuple[str | None, ...]
    """The final values of ``CONTACT_FIELDS``, in that order."""
    changed_fields: tuple[str, ...]
    """The fields an update changes (empty for a new contact: see ``filled_fields``)."""
    status: ContactStatus
    touched: bool
    """Whether anything is written for the contact (fields, events, relationships, suppression)."""

    @property
    def filled_fields(self) -> tuple[str, ...]:
        if self.status is not ContactStatus.NEW:
            return self.changed_fields
        return tuple(
            name for name, value in zip(CONTACT_FIELDS, self.values, strict=True) if value is not None
        )


_STATUS = itemgetter(5)
"""``ContactDecision.status``, read in C (a plan holds a million)."""


@dataclass(frozen=True, slots=True)
class EventDecision:
    """A consent event to append (given, confirmed or withdrawn)."""

    key: str
    purpose: str
    channel: Channel
    action: ConsentAction
    occurred_at: datetime
    method: ConsentMethod
    notice_version: str | None
    ip: str | None
    source_ref: str
    double_opt_in_requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ObjectionDecision:
    key: str
    occurred_at: datetime
    reason: str | None
    channel: Channel | None = Channel.EMAIL


@dataclass(frozen=True, slots=True)
class RelationshipDecision:
    """A relationship to add (``existing_id`` ``None``) or to update."""

    key: str
    existing_id: str | None
    kind: RelationshipKind
    reference: str | None
    started_at: datetime
    service_date: datetime | None
    ended_at: datetime | None
    categories: tuple[str, ...]
    amount: Decimal | None
    opt_out_offered: bool
    item: str | None = None


@dataclass(frozen=True, slots=True)
class SuppressionDecision:
    key: str
    address_hash: str
    reason: SuppressionReason
    at: datetime


@dataclass(frozen=True, slots=True)
class Blocked:
    """A row whose consent (or, for an erased address, everything) is not recorded, and why."""

    where: Line
    email: str | None
    reason: str
    contact_data_written: bool


@dataclass(frozen=True, slots=True)
class IgnoredConsent:
    """A consent claim that is not consent (P6): no ``--source`` attests it."""

    where: Line
    reason: str


@dataclass(frozen=True, slots=True)
class NotCovered:
    """A purpose of the audience that a consent claim did not cover, and why (DESIGN §3 P2 "specific")."""

    where: Line
    purpose: str
    reason: str


@dataclass(frozen=True, slots=True)
class AwaitingConfirmation:
    """A grant the import records unconfirmed: its method needs double opt-in and the row has none."""

    where: Line
    purposes: tuple[str, ...]
    why: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Rows of the import that name the same person and were merged into one contact."""

    key: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    file: str
    sha256: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class ImportFile:
    """A file argument of the import: its hash, and what was detected in each CSV inside it."""

    path: str
    sha256: str
    reports: tuple[FileReport, ...]


@dataclass(frozen=True, slots=True)
class ImportPlan:
    source: str | None
    files: tuple[ImportFile, ...]
    already_applied: tuple[AlreadyApplied, ...]
    contacts: tuple[ContactDecision, ...]
    events: tuple[EventDecision, ...]
    objections: tuple[ObjectionDecision, ...]
    relationships: tuple[RelationshipDecision, ...]
    suppressions: tuple[SuppressionDecision, ...]
    rejected: tuple[RowError, ...]
    blocked: tuple[Blocked, ...]
    ignored_consent: tuple[IgnoredConsent, ...]
    duplicates: tuple[Duplicate, ...]
    not_covered: tuple[NotCovered, ...] = ()
    awaiting_confirmation: tuple[AwaitingConfirmation, ...] = ()
    _counts: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)
    """``counts()`` once worked out (the plan never changes; a large one holds a million contacts)."""

    @property
    def rows_read(self) -> int:
        return sum(report.rows_read for file in self.files for report in file.reports)

    @property
    def changes_anything(self) -> bool:
        return any(c.touched for c in self.contacts) or bool(self.suppressions)

    def counts(self) -> dict[str, int]:
        """The figures of the report, also stored with the import record (worked out on the first call;
        each call returns its own copy)."""
        if self._counts is None:
            object.__setattr__(self, "_counts", self._counted())
        assert self._counts is not None
        return dict(self._counts)

    def _counted(self) -> dict[str, int]:
        by_status = Counter(map(_STATUS, self.contacts))
        actions = [e.action for e in self.events]
        return {
            "rows_read": self.rows_read,
            "rows_rejected": len(self.rejected),
            "contacts_new": by_status[ContactStatus.NEW],
            "contacts_updated": by_status[ContactStatus.UPDATED],
            "contacts_unchanged": by_status[ContactStatus.UNCHANGED],
            "consents": actions.count(ConsentAction.GIVEN),
            "confirmations": actions.count(ConsentAction.CONFIRMED),
            "withdrawals": actions.count(ConsentAction.WITHDRAWN),
            "objections": len(self.objections),
            "relationships": len(self.relationships),
            "suppressions": len(self.suppressions),
            "duplicates_merged": sum(len(d.lines) - 1 for d in self.duplicates),
            "blocked": len(self.blocked),
            "ignored_for_consent": len(self.ignored_consent),
            "purposes_not_covered": len(self.not_covered),
            "awaiting_confirmation": len(self.awaiting_confirmation),
        }
