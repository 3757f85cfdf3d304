"""Rows of one person merged into one draft: duplicates within an import become one contact.

Pure (no I/O, no clock). A :class:`Draft` collects every row with the same key (normalised e-mail,
else customer id, else phone) together with what the store holds for that person; ``decisions``
turns a finished draft into plan entries.

Field merging: a row's values fill empty fields; they replace values already there unless the row is
dated before the newest data we know (the contact's last update in the store, or a newer row of this
import). A row's date is the newest date it carries (given, confirmed, unsubscribed, cleaned,
purchased, delivered, ended); an undated row counts as current.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.imports.parsing.rows import (
    ConsentClaim,
    ContactRow,
    ParsedRow,
    RelationshipClaim,
    UndeliverableClaim,
    WithdrawalClaim,
)
from connector.imports.plan import Line
from connector.imports.store_state import ExistingContact, StoredSuppression


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim of a row, with where it came from and whether the file is a Mailchimp export."""

    where: Line
    from_mailchimp: bool


_BLANK: tuple[str | None, ...] = (None, None, None, None, None)
_NONE: list[Any] = []
"""The shared empty claim list of a draft (never mutated: a claim makes a new list)."""


class Draft:
    """Everything an import says about one person (mutable while rows arrive).

    Kept small, since a large import holds one per person: ``values`` is a tuple replaced on merge,
    ``first_file`` and ``first_number`` hold where the person first appears (a :class:`Line` is built
    only when asked for) until a duplicate arrives (``more_lines``), and the claim lists
    share one empty list until a row brings a claim.
    """

    __slots__ = (
        "consents",
        "email",
        "existing",
        "first_file",
        "first_number",
        "key",
        "more_lines",
        "newest",
        "relationships",
        "suppressions",
        "undeliverables",
        "values",
        "withdrawals",
    )

    def __init__(
        self,
        key: str,
        email: str | None,
        existing: ExistingContact | None,
        suppressions: tuple[StoredSuppression, ...],
    ) -> None:
        self.key = key
        self.email = email
        self.existing = existing
        self.suppressions = suppressions
        self.values: tuple[str | None, ...] = existing.values if existing else _BLANK
        self.newest: datetime | None = existing.updated_at if existing else None
        self.first_file: str | None = None
        self.first_number = 0
        self.more_lines: list[Line] = _NONE
        self.consents: list[tuple[Claimed, ConsentClaim]] = _NONE
        self.withdrawals: list[tuple[Claimed, WithdrawalClaim]] = _NONE
        self.undeliverables: list[tuple[Claimed, UndeliverableClaim]] = _NONE
        self.relationships: list[tuple[Claimed, RelationshipClaim]] = _NONE

    @property
    def lines(self) -> list[Line]:
        first = self.first_file
        return ([Line(first, self.first_number)] if first is not None else []) + self.more_lines

    @property
    def merged(self) -> bool:
        return bool(self.more_lines)

    @property
    def has_claims(self) -> bool:
        return bool(self.consents or self.withdrawals or self.undeliverables or self.relationships)

    def add(self, row: ParsedRow, from_mailchimp: bool) -> None:
        data_only = (
            row.consent is None
            and row.withdrawal is None
            and row.undeliverable is None
            and row.relationship is None
        )
        if self.first_file is None:
            self.first_file, self.first_number = row.file, row.line
        else:
            self.more_lines = [*self.more_lines, Line(row.file, row.line)]
        if data_only:
            self._merge_values(row.contact, None)
            return
        self._merge_values(row.contact, row_date(row))
        claimed = Claimed(Line(row.file, row.line), from_mailchimp)
        if row.consent is not None:
            self.consents = [*self.consents, (claimed, row.consent)]
        if row.withdrawal is not None:
            self.withdrawals = [*self.withdrawals, (claimed, row.withdrawal)]
        if row.undeliverable is not None:
            self.undeliverables = [*self.undeliverables, (claimed, row.undeliverable)]
        if row.relationship is not None:
            self.relationships = [*self.relationships, (claimed, row.relationship)]

    def _merge_values(self, contact: ContactRow, dated: datetime | None) -> None:
        incoming = contact[1:]  # phone, first_name, last_name, external_id, locale
        if self.values is _BLANK:
            self.values = incoming
        elif incoming != self.values:  # the same values again (a re-import) change nothing
            replaces = dated is None or self.newest is None or dated >= self.newest
            merged = tuple(
                new if new is not None and (replaces or old is None) else old
                for old, new in zip(self.values, incoming, strict=True)
            )
            if merged != self.values:  # unchanged: keep the held tuple, let the row's copies go
                self.values = merged
        if dated is not None and (self.newest is None or dated > self.newest):
            self.newest = dated


def contact_key(contact: ContactRow) -> str | None:
    """The merge key of a row: its address, else ``ext:<customer id>``, else ``tel:<E.164>``."""
    if contact.email is not None:
        return contact.email
    if contact.external_id is not None:
        return f"ext:{contact.external_id}"
    if contact.phone is not None:
        return f"tel:{contact.phone}"
    return None


def is_email_key(key: str) -> bool:
    """Whether a merge key is an address (not ``ext:…`` or ``tel:…``)."""
    return not key.startswith(("ext:", "tel:"))


def row_date(row: ParsedRow) -> datetime | None:
    """The newest date a row carries, or ``None`` for an undated row."""
    dates: list[datetime | None] = []
    if row.consent is not None:
        dates += [row.consent.given_at, row.consent.confirmed_at]
    if row.withdrawal is not None:
        dates.append(row.withdrawal.at)
    if row.undeliverable is not None:
        dates.append(row.undeliverable.at)
    if row.relationship is not None:
        r = row.relationship
        dates += [r.started_at, r.service_date, r.ended_at]
    known = [d for d in dates if d is not None]
    return max(known) if known else None
