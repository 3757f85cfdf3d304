"""Contact-only rows read a chunk at a time, column by column.

A contacts file (no consent, relationship or Mailchimp columns) is read in chunks: each column's cells
are trimmed, lower-cased and checked with ``map`` over the whole column (C loops, no Python call per
cell), and a row whose every cell is in its plain form — an address the e-mail fast path accepts, a
plain national phone number or none, names and locale without an export's formula quote, a customer id
of plain digits or none — becomes its :class:`ParsedRow` directly. Every other row, and every chunk
with a row of another width, goes through the per-row reader, so the answer is the same row for row
(tested against it: ``tests/imports/test_csv_columns.py``).
"""

from collections.abc import Callable, Sequence
from functools import partial
from itertools import repeat
from sys import intern
from typing import Any

from connector.imports.parsing.rows import (
    ContactRow,
    FieldName,
    HeaderMap,
    MailchimpStatus,
    ParsedRow,
    RowError,
    RowKind,
    RowReader,
    compile_row_reader,
)
from connector.imports.parsing.values import national_phone_match, plain_address_match

ChunkReader = Callable[[list[list[str]], list[int]], list[ParsedRow | RowError]]
"""Reads a chunk of rows (cell lists, padded in place when read row by row) and their first lines."""

_new_contact: Callable[[Any], ContactRow] = partial(tuple.__new__, ContactRow)
_new_row: Callable[[Any], ParsedRow] = partial(tuple.__new__, ParsedRow)
"""Named tuples built from a tuple of all their fields, in C (``ContactRow(*fields)`` is a Python call)."""


def _interned(names: Sequence[str]) -> list[str | None]:
    return [intern(name) if name else None for name in names]


def _quoted(cells: Sequence[str]) -> list[bool]:
    """Cells an export may have neutralised (a leading quote): the per-row reader restores them."""
    return [cell[:1] == "'" for cell in cells]


class ColumnReader:
    """The plain rows of a chunk, from its columns; the rest through ``read``."""

    def __init__(
        self,
        read: RowReader,
        file: str,
        width: int,
        positions: Sequence[int],
        phone_match: tuple[Callable[[str], object], str],
    ) -> None:
        self._read = read
        self._by_row = _row_by_row(read)
        self._file = file
        self._width = width
        self._email, self._phone, self._first, self._last, self._external, self._locale = positions
        self._phone_match = phone_match

    def __call__(self, rows: list[list[str]], lines: list[int]) -> list[ParsedRow | RowError]:
        width = self._width
        if any(len(cells) != width for cells in rows):
            return self._by_row(rows, lines)
        columns = [*zip(*rows, strict=True), ("",) * len(rows)]  # the last: fields the file lacks
        contacts, plain = self._contacts(columns)
        parsed: list[ParsedRow | RowError] = list(
            map(_new_row, zip(repeat(self._file), lines, contacts, repeat(None), repeat(None),
                              repeat(None), repeat(None), repeat(())))
        )  # fmt: skip
        for index, ok in enumerate(plain):
            if not ok:
                parsed[index] = self._read(rows[index], lines[index])
        return parsed

    def _contacts(self, columns: list[tuple[str, ...]]) -> tuple[list[ContactRow], list[bool]]:
        match_phone, prefix = self._phone_match
        stripped = list(map(str.strip, columns[self._email]))
        addresses = list(map(str.lower, stripped))
        email_ok = map(plain_address_match, addresses)
        ascii_ok = [True] * len(stripped) if "".join(stripped).isascii() else map(str.isascii, stripped)
        numbers = list(map(str.strip, columns[self._phone]))
        phones = [prefix + number if number else None for number in numbers]
        phone_ok = [not number or match_phone(number) for number in numbers]
        firsts = list(map(str.strip, columns[self._first]))
        lasts = list(map(str.strip, columns[self._last]))
        customers = list(map(str.strip, columns[self._external]))
        customer_ok = [not c or (c.isdigit() and c.isascii()) for c in customers]
        locales = list(map(str.strip, columns[self._locale]))
        plain = [
            bool(a and e and p and c) and not (f or la or lo)
            for a, e, p, c, f, la, lo in zip(
                ascii_ok,
                email_ok,
                phone_ok,
                customer_ok,
                _quoted(firsts),
                _quoted(lasts),
                _quoted(locales),
                strict=True,
            )
        ]
        contacts = list(
            map(_new_contact, zip(addresses, phones, _interned(firsts), _interned(lasts),
                                  [c or None for c in customers], [lo or None for lo in locales],
                                  strict=True))
        )  # fmt: skip
        return contacts, plain


def _row_by_row(read: RowReader) -> ChunkReader:
    def read_chunk(rows: list[list[str]], lines: list[int]) -> list[ParsedRow | RowError]:
        return [read(cells, line) for cells, line in zip(rows, lines, strict=True)]

    return read_chunk


def compile_chunk_reader(
    header_map: HeaderMap,
    kind: RowKind,
    source: str | None,
    *,
    file: str = "<input>",
    region: str = "NO",
    mailchimp_status: MailchimpStatus | None = None,
) -> ChunkReader:
    """The reader of a file's chunks: by columns for a contacts-only file, else row by row (the same
    rows as :func:`compile_row_reader`'s, in the same order)."""
    read = compile_row_reader(
        header_map, kind, source, file=file, region=region, mailchimp_status=mailchimp_status
    )
    claims = header_map.has_claims
    phone_match = national_phone_match(region)
    if kind is RowKind.MAILCHIMP_EXPORT or claims or phone_match is None:
        return _row_by_row(read)
    width = header_map.width
    fields = (
        FieldName.EMAIL, FieldName.PHONE, FieldName.FIRST_NAME, FieldName.LAST_NAME,
        FieldName.EXTERNAL_ID, FieldName.LOCALE,
    )  # fmt: skip
    positions = {field: index for index, field in enumerate(header_map.fields) if field is not None}
    return ColumnReader(read, file, width, [positions.get(f, width) for f in fields], phone_match)
