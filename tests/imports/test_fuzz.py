"""Hypothesis fuzzing of file content: a file yields only ParsedRow/RowError, or stops with one InputError."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import InputError
from connector.imports.parsing.rows import ParsedRow, RowError
from connector.imports.reader import ReadOptions, open_import, read_rows

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADERS = [
    "E-post",
    "Fornavn",
    "Mobil",
    "Kundenummer",
    "Samtykke gitt",
    "Metode",
    "Tekstversjon",
    "Kjøpt",
    "Ordrenummer",
    "Beløp",
    "OPTIN_TIME",
    "LEID",
    "UNSUB_TIME",
    "Email Address",
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "ola@example.no",
            "91234567",
            "4.79123E+10",
            "45352",
            "01.03.2024",
            "Ja",
            "x",
            "1 234,50",
            "skjema",
            "v3",
            "2013-06-25 17:38:27",
            "",
            " ",
            '"',
            "a\nb",
            "=1+1",
            "ø",
            "\x00",
        ]
    ),
    st.text(max_size=12),
)


def _read_all(content: bytes, suffix: str = ".csv") -> list[ParsedRow | RowError] | InputError:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"fuzz{suffix}"
        path.write_bytes(content)
        try:
            return list(read_rows(open_import(path, ReadOptions(source="fuzz", sample_bytes=4096))))
        except InputError as error:
            return error


def _assert_report_or_one_error(outcome: list[ParsedRow | RowError] | InputError) -> None:
    if isinstance(outcome, InputError):
        assert outcome.where
        assert outcome.reason
        return
    assert all(type(row) in (ParsedRow, RowError) for row in outcome)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(content: bytes) -> None:
    _assert_report_or_one_error(_read_all(content))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_after_a_good_header_never_crash(tail: bytes) -> None:
    _assert_report_or_one_error(_read_all(b"email;first_name;phone\r\n" + tail))


def _quoted(cell: str, quoting: int) -> str:
    if quoting == 0:
        return cell
    if quoting == 1:
        return '"' + cell.replace('"', '""') + '"'
    return '"' + cell  # an unbalanced quote


@st.composite
def files(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=6, unique=True))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    rows = [headers]
    for _ in range(draw(st.integers(0, 8))):
        width = draw(st.integers(0, len(headers) + 2))  # wrong column counts included
        rows.append(draw(st.lists(CELLS, min_size=width, max_size=width)))
    lines = []
    for row in rows:
        quoting = draw(st.lists(st.integers(0, 2), min_size=len(row), max_size=len(row)))
        lines.append(delimiter.join(_quoted(c, q) for c, q in zip(row, quoting, strict=True)))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return newline.join(lines).encode(encoding, errors="replace")


@FUZZ
@given(files())
def test_random_quoting_and_column_counts_never_crash(content: bytes) -> None:
    _assert_report_or_one_error(_read_all(content))


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_named_zip_never_crash(content: bytes) -> None:
    _assert_report_or_one_error(_read_all(b"PK\x03\x04" + content, suffix=".zip"))
