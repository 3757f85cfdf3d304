"""The plain rows of a contacts file, told apart and read column by column with Arrow's compute kernels.

A row is *plain* under exactly the conditions of ``parsing.columns.ColumnReader`` (an address the
e-mail fast path accepts, a plain national phone number or none, names and locale without an export's
formula quote, a customer id of plain digits or none); for those the per-row reader
(``parsing.rows.compile_row_reader``) gives the contact this module builds, so a plain row needs no
Python call of its own. Cells are trimmed of exactly the characters ``str.strip`` removes, the address
test is the fast path's regex restated for RE2 without lookaheads (``parsing.values.PLAIN_ADDRESS_RE2`` and
its length, ``--`` and special-use checks), and the phone test is phonenumbers' validity test in the
parts ``parsing.values.national_number_test`` gives (both property-tested against the per-row fast
paths). Every other non-blank row is handed back for the per-row reader.
"""

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from connector.imports.parsing.headers import FieldName, HeaderMap
from connector.imports.parsing.values import (
    ADDRESS_MAX,
    LOCAL_PART_MAX,
    PLAIN_ADDRESS_RE2,
    SPECIAL_USE_TLDS,
    NationalNumberTest,
    NumberShape,
    national_number_test,
)
from connector.imports.plain_csv import PlainBatch

WHITESPACE = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())
"""What ``str.strip()`` removes."""
_ARROW_ASCII_SPACE = " \t\n\x0b\x0c\r"
"""What ``ascii_trim_whitespace`` removes: ``WHITESPACE`` but for the characters below."""
_OTHER_SPACE_BYTES = bytes(
    sorted({char.encode()[0] for char in WHITESPACE if char not in _ARROW_ASCII_SPACE})
)
"""The first UTF-8 byte of every other character ``str.strip()`` removes (\\x1c-\\x1f, U+0085, U+00A0,
U+1680, U+2000-U+205F, U+3000): a column without any of these bytes trims the same with the fast
ASCII kernel."""

ContactValues = tuple[str | None, str | None, str | None, str | None, str | None]
"""phone (E.164), first name, last name, customer id, locale: a contact row's values after its address."""

_NULL = pa.scalar(None, pa.string())
_EMPTY = pa.scalar("", pa.string())


@dataclass(frozen=True, slots=True)
class ContactFields:
    """Where a file's contact fields are (``None``: not in the file) and its region's phone test."""

    email: int | None
    phone: int | None
    first_name: int | None
    last_name: int | None
    external_id: int | None
    locale: int | None
    phone_test: NationalNumberTest | None


def contact_fields(header_map: HeaderMap, region: str) -> ContactFields:
    positions = {field: index for index, field in enumerate(header_map.fields) if field is not None}
    return ContactFields(
        positions.get(FieldName.EMAIL),
        positions.get(FieldName.PHONE),
        positions.get(FieldName.FIRST_NAME),
        positions.get(FieldName.LAST_NAME),
        positions.get(FieldName.EXTERNAL_ID),
        positions.get(FieldName.LOCALE),
        national_number_test(region),
    )


CONTACT_COLUMNS = ("key", "phone", "first_name", "last_name", "external_id", "locale", "line")
"""The columns of a :class:`ContactTable`: the merge key, ``ContactValues`` (empty cells null), the line."""
ContactTable = pa.Table


@dataclass(frozen=True, slots=True)
class ClassifiedBatch:
    """A batch's plain rows as a table of ``CONTACT_COLUMNS`` (the key is the address); ``others`` are
    its other non-blank rows as ``(line, cells)``, in line order, for the per-row reader."""

    plain: ContactTable
    others: list[tuple[int, list[str]]]


def contact_table(keys: list[str], values: list[tuple[str | None, ...]], lines: list[int]) -> ContactTable:
    """A :class:`ContactTable` of rows given as Python values."""
    columns: list[pa.Array[Any]] = [pa.array(keys, pa.string())]
    columns += [pa.array(list(cells), pa.string()) for cells in zip(*values, strict=True)] or [
        pa.array([], pa.string()) for _ in CONTACT_COLUMNS[1:-1]
    ]
    columns.append(pa.array(lines, pa.int64()))
    return pa.table(columns, names=list(CONTACT_COLUMNS))


def plain_address_mask(lowered: pa.StringArray) -> pa.BooleanArray:
    """Which cells (trimmed, lower-cased, ASCII) ``parsing.values.plain_address_match`` accepts."""
    accepted = pc.and_(
        pc.match_substring_regex(lowered, PLAIN_ADDRESS_RE2),
        pc.less_equal(pc.utf8_length(lowered), _int32(ADDRESS_MAX)),
    )
    at = pc.find_substring(lowered, "@")
    accepted = pc.and_(accepted, pc.less_equal(at, _int32(LOCAL_PART_MAX)))
    for name in SPECIAL_USE_TLDS:
        accepted = pc.and_not(accepted, pc.ends_with(lowered, "." + name))
    dashes = pc.match_substring(lowered, "--")
    if pc.any(dashes).as_py():
        accepted = pc.and_not(accepted, pc.match_substring_regex(lowered, "@[^@]*--"))
    return accepted


def _int32(value: int) -> pa.Int32Scalar:
    return pa.scalar(value, pa.int32())


def classify(batch: PlainBatch, fields: ContactFields) -> ClassifiedBatch:
    """The plain rows of ``batch`` read, the others handed back (blank rows are dropped, as the
    reference reader drops them)."""
    odd = [(line, cells) for line, cells in batch.odd_rows if any(cells)]
    if not batch.lines:
        return ClassifiedBatch(contact_table([], [], []), odd)
    columns = batch.columns
    filled = _non_blank(columns)
    if fields.email is None:
        return ClassifiedBatch(
            contact_table([], [], []), _merged(_rows_at(columns, batch.lines, filled), odd)
        )
    email = _trimmed(columns[fields.email])
    lowered = pc.ascii_lower(email)
    plain = pc.and_(filled, pc.and_(pc.string_is_ascii(email), plain_address_mask(lowered)))
    phone = _optional(columns, fields.phone)
    e164: pa.StringArray | None = None
    if phone is not None:
        e164, phone_ok = e164_phones(phone, fields.phone_test, plain)
        plain = pc.and_(plain, phone_ok)
    external_id = _optional(columns, fields.external_id)
    if external_id is not None:
        plain = pc.and_(plain, pc.match_substring_regex(external_id, "^[0-9]*$"))
    for position in (fields.first_name, fields.last_name, fields.locale):
        cells = _optional(columns, position)
        if cells is not None:
            plain = pc.and_not(plain, pc.starts_with(cells, "'"))
    count = _count(plain)
    table = pa.table(
        [
            lowered.filter(plain),
            pa.nulls(count, pa.string()) if e164 is None else e164.filter(plain),
            _texts(_optional(columns, fields.first_name), plain, count),
            _texts(_optional(columns, fields.last_name), plain, count),
            _texts(external_id, plain, count),
            _texts(_optional(columns, fields.locale), plain, count),
            pa.array(batch.lines, pa.int64()).filter(plain),
        ],
        names=list(CONTACT_COLUMNS),
    )
    return ClassifiedBatch(table, _merged(_rows_at(columns, batch.lines, pc.and_not(filled, plain)), odd))


def _trimmed(column: pa.StringArray) -> pa.StringArray:
    """The cells as ``str.strip()`` leaves them."""
    data = column.buffers()[2]
    if data is not None and len(data.to_pybytes().translate(None, _OTHER_SPACE_BYTES)) != data.size:
        return pc.utf8_trim(column, characters=WHITESPACE)
    return pc.ascii_trim_whitespace(column)


def _optional(columns: Sequence[pa.StringArray], position: int | None) -> pa.StringArray | None:
    return None if position is None else _trimmed(columns[position])


def _non_blank(columns: Sequence[pa.StringArray]) -> pa.BooleanArray:
    filled = pc.not_equal(columns[0], _EMPTY)
    for column in columns[1:]:
        filled = pc.or_(filled, pc.not_equal(column, _EMPTY))
    return filled


def e164_phones(
    numbers: pa.StringArray, test: NationalNumberTest | None, candidates: pa.BooleanArray
) -> tuple[pa.StringArray, pa.BooleanArray]:
    """The E.164 form of each trimmed phone cell the per-row reader reads without phonenumbers'
    parser (null for an empty cell), and which cells those are (empty ones included). Excel damage is
    repaired only in the ``candidates`` rows (the rows plain but for their phone)."""
    empty = pc.equal(numbers, _EMPTY)
    if test is None:
        return pa.nulls(len(numbers), pa.string()), empty
    national = plain_phone_mask(numbers, test)
    e164 = pc.if_else(pc.and_not(national, empty), _joined(test.prefix, numbers), _NULL)
    damaged = pc.and_not(candidates, national)
    if not pc.any(damaged).as_py():
        return e164, national
    repaired = repaired_phones(numbers.filter(damaged), test)
    e164 = pc.replace_with_mask(e164, damaged, repaired)
    return e164, pc.replace_with_mask(national, damaged, pc.is_valid(repaired))


_WHOLE_FLOAT = "^([0-9]+)[.,]0+$"
_EXACT_SCIENTIFIC = "^([0-9])[.,]([0-9]+)[eE]\\+?([0-9]{1,2})$"


def repaired_phones(numbers: pa.StringArray, test: NationalNumberTest) -> pa.StringArray:
    """What ``parsing.values.parse_phone`` answers without phonenumbers' parser, for the common Excel
    damage: ASCII digits, a whole float (``4791234567.0``) or exact scientific notation
    (``4.791234567E+9``) of them, that are a valid national number or, after a ``00`` or a lost ``+``,
    the region's country code and one; null for every other cell (the per-row reader reads those)."""
    digits = pc.coalesce(
        pc.if_else(pc.match_substring_regex(numbers, "^[0-9]+$"), numbers, _NULL),
        _where(numbers, _WHOLE_FLOAT, "\\1"),
        _exact_scientific(numbers),
    )
    code = test.prefix[1:]
    international = pc.if_else(pc.starts_with(digits, "00"), pc.utf8_slice_codeunits(digits, 2), digits)
    rest = pc.utf8_slice_codeunits(international, len(code))
    own_country = pc.and_(pc.starts_with(international, code), _valid(rest, test))
    return pc.if_else(  # type: ignore[no-any-return]
        _valid(digits, test),
        _joined(test.prefix, digits),
        pc.if_else(own_country, _joined(test.prefix, rest), _NULL),
    )


def _where(numbers: pa.StringArray, pattern: str, replacement: str) -> pa.StringArray:
    """The cells matching ``pattern``, rewritten; null elsewhere."""
    rewritten = pc.replace_substring_regex(numbers, pattern, replacement)
    return pc.if_else(pc.match_substring_regex(numbers, pattern), rewritten, _NULL)  # type: ignore[no-any-return]


def _exact_scientific(numbers: pa.StringArray) -> pa.StringArray:
    """The digits of cells in scientific notation that keep every digit (mantissa as long as the
    exponent says); null elsewhere (lost digits are the per-row reader's to report)."""
    mantissa = _where(numbers, _EXACT_SCIENTIFIC, "\\1\\2")
    written: Any = pc.fill_null(_where(numbers, _EXACT_SCIENTIFIC, "\\3"), "0")  # type: ignore[type-var]  # the stubs lose its type
    exponent = pc.cast(written, pa.int32())
    exact = pc.equal(pc.utf8_length(mantissa), pc.add(exponent, pa.scalar(1, pa.int32())))
    return pc.if_else(exact, mantissa, _NULL)  # type: ignore[no-any-return]


def _valid(numbers: pa.StringArray, test: NationalNumberTest) -> pa.BooleanArray:
    """Valid national numbers (false for null)."""
    try:
        valid = _valid_numbers(numbers, test)
    except pa.ArrowInvalid:  # a pattern RE2 cannot compile: the per-row reader reads them
        return pa.repeat(False, len(numbers))
    filled: Any = pc.fill_null(valid, False)  # type: ignore[type-var]  # the stubs lose its type
    return cast(pa.BooleanArray, filled)


def _joined(prefix: str, numbers: pa.StringArray) -> pa.StringArray:
    return pc.binary_join_element_wise(pa.scalar(prefix), numbers, pa.scalar(""))  # type: ignore[call-overload,no-any-return]  # a scalar and an array


def plain_phone_mask(numbers: pa.StringArray, test: NationalNumberTest | None) -> pa.BooleanArray:
    """Empty, or a number the region's fast path takes as it is (``parsing.values.national_phone_match``:
    ASCII digits without a leading 0, of the general shape and of one of the types' shapes)."""
    empty = pc.equal(numbers, _EMPTY)
    if test is None:
        return empty
    try:
        return pc.or_(empty, _valid_numbers(numbers, test))
    except pa.ArrowInvalid:  # a pattern RE2 cannot compile: those rows take the per-row reader
        return empty


def _valid_numbers(numbers: pa.StringArray, test: NationalNumberTest) -> pa.BooleanArray:
    lengths = pc.utf8_length(numbers)
    valid = pc.and_(
        pc.match_substring_regex(numbers, "^[1-9][0-9]*$"), _shaped(numbers, lengths, [test.general])
    )
    by_lengths: dict[tuple[int, ...], list[NumberShape]] = {}
    for shape in test.types:
        by_lengths.setdefault(shape[0], []).append(shape)
    typed = [_shaped(numbers, lengths, shapes) for shapes in by_lengths.values()]
    any_type = typed[0]
    for mask in typed[1:]:
        any_type = pc.or_(any_type, mask)
    return pc.and_(valid, any_type)


def _shaped(numbers: pa.StringArray, lengths: pa.Int32Array, shapes: list[NumberShape]) -> pa.BooleanArray:
    """Numbers of one of ``shapes``, which share their possible lengths."""
    pattern = "|".join(f"(?:{shape[1]})" for shape in shapes)
    matched = pc.match_substring_regex(numbers, f"^(?:{pattern})$")
    possible = shapes[0][0]
    if not possible:
        return matched
    return pc.and_(matched, pc.is_in(lengths, pa.array(possible, pa.int32())))


def _nulls_for_empty(cells: pa.StringArray) -> pa.StringArray:
    return cast(pa.StringArray, pc.if_else(pc.equal(cells, _EMPTY), _NULL, cells))


def _texts(cells: pa.StringArray | None, plain: pa.BooleanArray, count: int) -> pa.StringArray:
    if cells is None:
        return pa.nulls(count, pa.string())
    return _nulls_for_empty(cells.filter(plain))


def _count(mask: pa.BooleanArray) -> int:
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


def _rows_at(
    columns: Sequence[pa.StringArray], lines: list[int], chosen: pa.BooleanArray
) -> list[tuple[int, list[str]]]:
    """The rows ``chosen`` marks, as ``(line, cells)`` (cells untrimmed, as the file holds them)."""
    picked: list[list[str]] = [column.filter(chosen).to_pylist() for column in columns]  # type: ignore[misc]
    rows = [list(cells) for cells in zip(*picked, strict=True)]
    return list(zip(compress(lines, cast(list[bool], chosen.to_pylist())), rows, strict=True))


def _merged(
    first: list[tuple[int, list[str]]], second: list[tuple[int, list[str]]]
) -> list[tuple[int, list[str]]]:
    if not second:
        return first
    return sorted([*first, *second], key=lambda row: row[0])
