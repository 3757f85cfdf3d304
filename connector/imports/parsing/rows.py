"""Import rows as typed claims: :func:`compile_row_reader` turns a file's header map into one function
that reads a row's cells into a :class:`ParsedRow` or a :class:`RowError` naming file, line, column and
reason. Nothing here opens files or reads the clock.

Cell parsers live in ``parsing.values``, header mapping in ``parsing.headers``; both re-exported here.

P6 (docs/policy.md): a row carries a :class:`ConsentClaim` only when it has the evidence columns (given-at and
method or source; a missing notice version is recorded as unknown); the claim records whether the
import's ``--source`` must attest it.
Mailchimp exports carry Mailchimp's own opt-in evidence (``OPTIN_TIME``/``CONFIRM_TIME``), withdrawals
(``UNSUB_TIME``) and bounces (``CLEAN_TIME``). Naive timestamps are read as UTC (Mailchimp's export zone
is unconfirmed, mailchimp-behaviour §9.1).

Cells that an export neutralised against formula injection (``'=…``, ``'+47…``) are restored first
(``parsing.cells.restore_formula``), so an export re-imports to the same values.

Speed: the reader is compiled once per file with the cell positions of the contact fields, so the
common contact columns are read by index without building a per-row mapping; only files with consent,
relationship or Mailchimp columns build one.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from sys import intern
from typing import Final, NamedTuple, TypeVar

from connector.core.model import Channel, ConsentMethod, RelationshipKind, SuppressionReason
from connector.errors import InputError
from connector.imports.parsing.cells import restore_formula
from connector.imports.parsing.headers import (
    IGNORE_WORDS,
    RELATIONSHIP_ID_FIELDS,
    FieldName,
    HeaderMap,
    MailchimpStatus,
    RowKind,
    detect_kind,
    field_for_header,
    mailchimp_file_status,
    map_headers,
    normalise_header,
    parse_column_map,
    status_from_file_name,
)
from connector.imports.parsing.values import (
    CellError,
    fast_national_phone,
    parse_amount,
    parse_bool,
    parse_categories,
    parse_channel,
    parse_date,
    parse_email,
    parse_identifier,
    parse_method,
    parse_opt_out_method,
    parse_phone,
    parse_purposes,
    parse_relationship_kind,
    plain_address_match,
)

__all__ = [
    "IGNORE_WORDS",
    "CellError",
    "ConsentClaim",
    "ContactRow",
    "FieldName",
    "HeaderMap",
    "MailchimpStatus",
    "ParsedRow",
    "RelationshipClaim",
    "RowError",
    "RowKind",
    "RowReader",
    "UndeliverableClaim",
    "WithdrawalClaim",
    "compile_row_reader",
    "detect_kind",
    "field_for_header",
    "interpret",
    "mailchimp_file_status",
    "map_headers",
    "normalise_header",
    "parse_amount",
    "parse_bool",
    "parse_categories",
    "parse_channel",
    "parse_column_map",
    "parse_date",
    "parse_email",
    "parse_identifier",
    "parse_method",
    "parse_phone",
    "parse_purposes",
    "parse_relationship_kind",
    "status_from_file_name",
]

_T = TypeVar("_T")


class ContactRow(NamedTuple):
    """Contact data of one row; ``email`` is trimmed and lower-cased, ``phone`` is E.164.

    A named tuple, not a frozen dataclass: one is built per row, and a frozen dataclass sets each field
    through ``object.__setattr__`` (1.0 µs for this one against 0.25 µs)."""

    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    external_id: str | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class ConsentClaim:
    """Consent the row says was given, with its evidence (P6).

    ``source`` is the import's ``--source``; ``source_required`` says whether the claim may only be
    stored when it is given (true for CSV evidence columns; false for Mailchimp's own opt-in records,
    which the importer gates like sign-up webhooks). Empty ``purposes`` means the audience's purposes.
    """

    purposes: tuple[str, ...]
    channel: Channel
    given_at: datetime
    method: ConsentMethod
    notice_version: str | None
    confirmed_at: datetime | None
    ip: str | None
    source: str | None
    source_required: bool
    confirm_ip: str | None = None
    source_ref: str | None = None
    groups: tuple[tuple[str, str], ...] | None = None
    """A Mailchimp export row's group columns as (column header, ticked interests ``"A, B"``): every
    column that is no field and no Mailchimp system column (matched to ``audiences.*.interests`` by
    category later); ``None`` for other sources."""
    recorded_as: str | None = None
    """Where the claim came from beyond file and line (an export's ``LAST_CHANGED``)."""

    @property
    def attested(self) -> bool:
        return self.source is not None or not self.source_required


@dataclass(frozen=True, slots=True)
class WithdrawalClaim:
    """An opt-out; ``at`` is ``None`` when the file does not date it (the importer uses the import time)."""

    at: datetime | None
    campaign: str | None = None
    campaign_id: str | None = None
    reason: str | None = None
    channel: Channel = Channel.EMAIL
    purposes: tuple[str, ...] = ()
    method: ConsentMethod | None = None
    """How the person expressed it, when the file says (``None``: the import's own method)."""


@dataclass(frozen=True, slots=True)
class UndeliverableClaim:
    """The address bounced (Mailchimp ``cleaned``): undeliverable, and suppressed."""

    at: datetime | None
    campaign: str | None = None
    campaign_id: str | None = None
    suppression: SuppressionReason = SuppressionReason.CLEANED


@dataclass(frozen=True, slots=True)
class RelationshipClaim:
    kind: RelationshipKind
    reference: str | None
    started_at: datetime
    service_date: datetime | None
    ended_at: datetime | None
    categories: frozenset[str]
    amount: Decimal | None
    opt_out_offered: bool
    item: str | None = None


class ParsedRow(NamedTuple):
    """One row read: where it starts and its claims (a named tuple, built per row: see ContactRow)."""

    file: str
    line: int
    contact: ContactRow
    consent: ConsentClaim | None = None
    withdrawal: WithdrawalClaim | None = None
    undeliverable: UndeliverableClaim | None = None
    relationship: RelationshipClaim | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not read; ``line`` is the physical line the row starts on."""

    file: str
    line: int
    column: str | None
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def as_input_error(self) -> InputError:
        return InputError(self.where, self.reason)


class _BadCellError(Exception):
    def __init__(self, field: FieldName, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


_Values = Mapping[FieldName | None, str]


def _clean(text: str) -> str:
    """The cell trimmed, with an export's formula neutralisation undone."""
    stripped = text.strip()
    if stripped[:1] == "'":
        return restore_formula(stripped).strip()
    return stripped


def _name(text: str) -> str | None:
    """A name cell, interned: a large file repeats first and last names, held once per import."""
    cleaned = _clean(text)
    return intern(cleaned) if cleaned else None


def _text(values: _Values, field: FieldName) -> str | None:
    return _clean(values.get(field, "")) or None


def _parsed(values: _Values, field: FieldName, parse: Callable[[str], _T]) -> _T | None:
    return _cell(values.get(field, ""), field, parse)


def _cell(text: str, field: FieldName, parse: Callable[[str], _T]) -> _T | None:
    cleaned = _clean(text)
    if not cleaned:
        return None
    try:
        return parse(cleaned)
    except CellError as error:
        raise _BadCellError(field, str(error)) from None


def _phone_cell(text: str, region: str) -> str | None:
    cleaned = _clean(text)
    if not cleaned:
        return None
    try:
        return parse_phone(cleaned, region)
    except CellError as error:
        raise _BadCellError(FieldName.PHONE, str(error)) from None


def _phone(values: _Values, region: str) -> str | None:
    return _phone_cell(values.get(FieldName.PHONE, ""), region)


def _column_count_problem(width: int, cells: Sequence[str]) -> str | None:
    if len(cells) == width:
        return None
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        return None
    return f"expected {width} columns, found {len(cells)}"


RowReader = Callable[[list[str], int], "ParsedRow | RowError"]
"""Reads one row's cells (the list is padded in place) starting on the given physical line."""


def compile_row_reader(
    header_map: HeaderMap,
    kind: RowKind,
    source: str | None,
    *,
    file: str = "<input>",
    region: str = "NO",
    mailchimp_status: MailchimpStatus | None = None,
) -> RowReader:
    """One function that reads the rows of a file with this header map.

    ``mailchimp_status`` is the file-level status of a Mailchimp export (see :func:`mailchimp_file_status`);
    a status column, when present, decides per row.
    """
    width = header_map.width
    positions = {field: index for index, field in enumerate(header_map.fields) if field is not None}
    email, phone, first, last, external, locale = (
        positions.get(field, width)  # ``width`` indexes the blank cell every row is padded with
        for field in (
            FieldName.EMAIL, FieldName.PHONE, FieldName.FIRST_NAME, FieldName.LAST_NAME,
            FieldName.EXTERNAL_ID, FieldName.LOCALE,
        )
    )  # fmt: skip
    fields = header_map.fields
    mailchimp = kind is RowKind.MAILCHIMP_EXPORT
    group_columns = _group_columns(header_map) if mailchimp else ()
    last_changed = next(
        (i for i, h in enumerate(header_map.headers) if normalise_header(h) == "lastchanged"), width
    )
    claims = header_map.has_claims
    fast_phone = fast_national_phone(region)

    def read(cells: list[str], line: int) -> ParsedRow | RowError:
        if len(cells) != width:
            problem = _column_count_problem(width, cells)
            if problem is not None:
                return RowError(file, line, None, problem)
        cells.append("")
        try:
            if mailchimp:
                values = dict(zip(fields, cells, strict=False))
                groups = tuple((header, cells[index].strip()) for index, header in group_columns)
                parsed = _mailchimp_row(values, file, line, region, source, mailchimp_status)
                if isinstance(parsed, ParsedRow) and parsed.consent is not None:
                    consent = replace(
                        parsed.consent, groups=groups, recorded_as=_last_changed(cells[last_changed])
                    )
                    return parsed._replace(consent=consent)
                return parsed
            stripped = cells[email].strip()
            lowered = stripped.lower()
            address = (
                lowered
                if stripped.isascii() and plain_address_match(lowered)
                else _cell(cells[email], FieldName.EMAIL, parse_email)
            )
            number = cells[phone].strip()
            first_name = cells[first].strip()
            last_name = cells[last].strip()
            customer = cells[external].strip()
            external_id = (
                customer  # plain digits need no Excel repair
                if customer.isdigit() and customer.isascii()
                else _cell(customer, FieldName.EXTERNAL_ID, parse_identifier)
            )
            contact = ContactRow(
                address,
                (fast_phone(number) or _phone_cell(number, region)) if number else None,
                (intern(first_name) if first_name[0] != "'" else _name(first_name)) if first_name else None,
                (intern(last_name) if last_name[0] != "'" else _name(last_name)) if last_name else None,
                external_id,
                _clean(cells[locale]) or None,
            )
            if contact.email is None and contact.phone is None and contact.external_id is None:
                return RowError(file, line, None, "no e-mail, phone or customer id")
            if not claims:
                return ParsedRow(file, line, contact)
            values = dict(zip(fields, cells, strict=False))
            return _csv_row(header_map, values, file, line, contact, source)
        except _BadCellError as bad:
            return RowError(file, line, header_map.column_of(bad.field), bad.reason)

    return read


_NOT_GROUP_HEADERS: Final = frozenset(
    {
        "memberrating", "optintime", "optinip", "confirmtime", "confirmip", "latitude", "longitude",
        "gmtoff", "dstoff", "timezone", "cc", "region", "lastchanged", "leid", "euid", "notes", "tags",
        "unsubtime", "unsubcampaigntitle", "unsubcampaignid", "unsubreason", "unsubreasonother", "cleantime",
        "cleancampaigntitle", "cleancampaignid", "emailtype", "emailformat",
    }
)  # fmt: skip
"""Columns of a Mailchimp export that are never a group column (system columns, location, notes)."""


def _group_columns(header_map: HeaderMap) -> tuple[tuple[int, str], ...]:
    return tuple(
        (index, header)
        for index, (header, field) in enumerate(header_map.columns)
        if field is None and normalise_header(header) not in _NOT_GROUP_HEADERS
    )


def _last_changed(cell: str) -> str | None:
    return f"export row LAST_CHANGED {cell.strip()}" if cell.strip() else None


def interpret(
    header_map: HeaderMap,
    cells: Sequence[str],
    line: int,
    kind: RowKind,
    source: str | None,
    *,
    file: str = "<input>",
    region: str = "NO",
    mailchimp_status: MailchimpStatus | None = None,
) -> ParsedRow | RowError:
    """One data row as typed claims, or the reason it cannot be read (compiles a reader per call: for
    one-off rows; files use :func:`compile_row_reader`)."""
    reader = compile_row_reader(
        header_map, kind, source, file=file, region=region, mailchimp_status=mailchimp_status
    )
    return reader(list(cells), line)


def _csv_row(
    header_map: HeaderMap, values: _Values, file: str, line: int, contact: ContactRow, source: str | None
) -> ParsedRow:
    consent, withdrawal, notes = (
        _consent_part(values, source, evidenced=header_map.has_consent_evidence)
        if header_map.has_consent_evidence or header_map.has_consent_column
        else (None, None, ())
    )
    relationship = (
        _relationship(values, header_map.relationship_kind) if header_map.has_relationships else None
    )
    return ParsedRow(file, line, contact, consent, withdrawal, None, relationship, notes)


_ConsentPart = tuple[ConsentClaim | None, WithdrawalClaim | None, tuple[str, ...]]


def _consent_part(values: _Values, source: str | None, *, evidenced: bool) -> _ConsentPart:
    """A "no" is an opt-out whatever else the row holds; a grant needs its evidence (P6).

    ``evidenced``: the file has the evidence columns; without them the file-level note says why grants
    are not recorded, so rows add none of their own.
    """
    agreed = _parsed(values, FieldName.CONSENT, parse_bool)
    if agreed is False:
        return None, _opt_out(values), ()
    if not evidenced:
        return None, None, ()
    given_at = _parsed(values, FieldName.GIVEN_AT, parse_date)
    notice_version = _text(values, FieldName.NOTICE_VERSION)
    method = _parsed(values, FieldName.METHOD, parse_method)
    source_ref = _text(values, FieldName.SOURCE_REF)
    if given_at is None or (method is None and source_ref is None):
        if agreed is None and given_at is None and notice_version is None:
            return None, None, ()
        return None, None, ("consent not recorded: this row lacks given-at or method/source",)
    claim = ConsentClaim(
        purposes=_parsed(values, FieldName.PURPOSE, parse_purposes) or (),
        channel=_parsed(values, FieldName.CHANNEL, parse_channel) or Channel.EMAIL,
        given_at=given_at,
        method=method or ConsentMethod.IMPORT,
        notice_version=notice_version,
        confirmed_at=_parsed(values, FieldName.CONFIRMED_AT, parse_date),
        ip=_text(values, FieldName.IP),
        source=source,
        source_required=True,
        source_ref=source_ref,
    )
    return claim, None, ()


def _opt_out(values: _Values) -> WithdrawalClaim:
    """A withdrawal needs no evidence of a notice and may be made by any means: the row's date (else
    the import's time), its purposes and channel, and how it was expressed, in the file's own words."""
    expressed = _parsed(values, FieldName.METHOD, parse_opt_out_method)
    method, words = expressed if expressed is not None else (None, None)
    source_ref = _text(values, FieldName.SOURCE_REF)
    reason = "; ".join(
        part for part in ("consent column says no", f"by {words}" if words else None, source_ref) if part
    )
    return WithdrawalClaim(
        _parsed(values, FieldName.GIVEN_AT, parse_date),
        reason=reason,
        channel=_parsed(values, FieldName.CHANNEL, parse_channel) or Channel.EMAIL,
        purposes=_parsed(values, FieldName.PURPOSE, parse_purposes) or (),
        method=method,
    )


def _relationship(values: _Values, implied: RelationshipKind | None) -> RelationshipClaim | None:
    reference = (
        _parsed(values, FieldName.ORDER_ID, parse_identifier)
        or _parsed(values, FieldName.SUBSCRIPTION_ID, parse_identifier)
        or _parsed(values, FieldName.ACCOUNT_ID, parse_identifier)
    )
    started_at = _parsed(values, FieldName.STARTED_AT, parse_date)
    if reference is None and started_at is None:
        return None
    if started_at is None:
        raise _BadCellError(FieldName.STARTED_AT, "a relationship needs its start (purchase, created) date")
    kind = _parsed(values, FieldName.RELATIONSHIP_KIND, parse_relationship_kind) or _kind_from_ids(
        values, implied
    )
    return RelationshipClaim(
        kind=kind,
        reference=reference,
        started_at=started_at,
        service_date=_parsed(values, FieldName.SERVICE_DATE, parse_date),
        ended_at=_parsed(values, FieldName.ENDED_AT, parse_date),
        categories=_parsed(values, FieldName.CATEGORIES, parse_categories) or frozenset(),
        amount=_parsed(values, FieldName.AMOUNT, parse_amount),
        opt_out_offered=bool(_parsed(values, FieldName.OPT_OUT_OFFERED, parse_bool)),
        item=_item(values),
    )


def _item(values: _Values) -> str | None:
    item = _text(values, FieldName.ITEM)
    if item is not None and len(item) > 200:
        raise _BadCellError(FieldName.ITEM, "an item is at most 200 characters")
    return item


def _kind_from_ids(values: _Values, implied: RelationshipKind | None) -> RelationshipKind:
    for field, kind in RELATIONSHIP_ID_FIELDS.items():
        if values.get(field, "").strip():
            return kind
    if implied is not None:
        return implied
    if FieldName.SERVICE_DATE in values:
        return RelationshipKind.PURCHASE
    raise _BadCellError(
        FieldName.RELATIONSHIP_KIND, "cannot tell purchase, subscription or account: add a kind column"
    )


_STATUS_WORDS: Final = {s.value: s for s in MailchimpStatus}


def _row_status(values: _Values, file_status: MailchimpStatus | None) -> MailchimpStatus | str:
    explicit = _text(values, FieldName.STATUS)
    if explicit is not None:
        return _STATUS_WORDS.get(explicit.casefold(), explicit)
    if file_status is not None:
        return file_status
    if _text(values, FieldName.CLEAN_TIME):
        return MailchimpStatus.CLEANED
    if _text(values, FieldName.UNSUB_TIME):
        return MailchimpStatus.UNSUBSCRIBED
    return MailchimpStatus.SUBSCRIBED


def _softly(read: Callable[[], _T | None], notes: list[str]) -> _T | None:
    """``read()``, or ``None`` with a note when its cell is bad: an opt-out row is never dropped for a
    damaged side column."""
    try:
        return read()
    except _BadCellError as bad:
        notes.append(f"{bad.field.value} ignored: {bad.reason}")
        return None


def _mailchimp_contact(values: _Values, email: str, region: str, notes: list[str]) -> ContactRow:
    return ContactRow(
        email,
        _softly(lambda: _phone(values, region), notes),
        _text(values, FieldName.FIRST_NAME),
        _text(values, FieldName.LAST_NAME),
        _softly(lambda: _parsed(values, FieldName.EXTERNAL_ID, parse_identifier), notes),
        _text(values, FieldName.LOCALE),
    )


def _mailchimp_row(
    values: _Values,
    file: str,
    line: int,
    region: str,
    source: str | None,
    file_status: MailchimpStatus | None,
) -> ParsedRow | RowError:
    email = _parsed(values, FieldName.EMAIL, parse_email)
    if email is None:
        return RowError(file, line, None, "Mailchimp export row without an e-mail address")
    notes: list[str] = []
    contact = _mailchimp_contact(values, email, region, notes)
    status = _row_status(values, file_status)
    if status is MailchimpStatus.UNSUBSCRIBED:
        withdrawal = _mailchimp_withdrawal(values, notes)
        return ParsedRow(file, line, contact, withdrawal=withdrawal, notes=tuple(notes))
    if status is MailchimpStatus.CLEANED:
        undeliverable = _mailchimp_undeliverable(values, notes)
        return ParsedRow(file, line, contact, undeliverable=undeliverable, notes=tuple(notes))
    if status is not MailchimpStatus.SUBSCRIBED:
        notes.append(f"Mailchimp status {status!r}: contact data only")
        return ParsedRow(file, line, contact, notes=tuple(notes))
    consent = _mailchimp_consent(values, source, notes)
    if consent is None:
        notes.append("subscribed without OPTIN_TIME or CONFIRM_TIME: no consent evidence")
    return ParsedRow(file, line, contact, consent=consent, notes=tuple(notes))


def _mailchimp_consent(values: _Values, source: str | None, notes: list[str]) -> ConsentClaim | None:
    optin_at = _softly(lambda: _parsed(values, FieldName.OPTIN_TIME, parse_date), notes)
    confirmed_at = _softly(lambda: _parsed(values, FieldName.CONFIRM_TIME, parse_date), notes)
    given_at = optin_at or confirmed_at
    if given_at is None:
        return None
    return ConsentClaim(
        purposes=(),
        channel=Channel.EMAIL,
        given_at=given_at,
        method=ConsentMethod.MAILCHIMP,
        notice_version=None,
        confirmed_at=confirmed_at,
        ip=_text(values, FieldName.OPTIN_IP),
        source=source,
        source_required=False,
        confirm_ip=_text(values, FieldName.CONFIRM_IP),
    )


def _mailchimp_withdrawal(values: _Values, notes: list[str]) -> WithdrawalClaim:
    reasons = (_text(values, FieldName.UNSUB_REASON), _text(values, FieldName.UNSUB_REASON_OTHER))
    return WithdrawalClaim(
        at=_softly(lambda: _parsed(values, FieldName.UNSUB_TIME, parse_date), notes),
        campaign=_text(values, FieldName.UNSUB_CAMPAIGN_TITLE),
        campaign_id=_text(values, FieldName.UNSUB_CAMPAIGN_ID),
        reason=": ".join(r for r in reasons if r) or None,
    )


def _mailchimp_undeliverable(values: _Values, notes: list[str]) -> UndeliverableClaim:
    return UndeliverableClaim(
        at=_softly(lambda: _parsed(values, FieldName.CLEAN_TIME, parse_date), notes),
        campaign=_text(values, FieldName.CLEAN_CAMPAIGN_TITLE),
        campaign_id=_text(values, FieldName.CLEAN_CAMPAIGN_ID),
    )
