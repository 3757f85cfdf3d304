"""The column-wise chunk reader gives exactly the per-row reader's rows, row for row."""

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.imports.parsing.columns import ChunkReader, ColumnReader, compile_chunk_reader
from connector.imports.parsing.rows import RowReader, compile_row_reader, map_headers

HEADERS = ["E-post", "Fornavn", "Etternavn", "Mobil", "Kundenummer"]

_EMAILS = st.one_of(
    st.from_regex(r"[a-z0-9._+-]{1,12}@[a-z0-9.-]{1,10}\.(no|com|test|local|x)", fullmatch=True),
    st.sampled_from(
        ["  OLA@Kunde.NO ", "per@blåbær.no", "ola@@x.no", "", "'=ola@x.no", "ola@kunde.no.", '"a b"@x.no']
    ),
)
_PHONES = st.one_of(
    st.from_regex(r"[0-9]{0,11}", fullmatch=True),
    st.sampled_from(
        ["", "4791234567.0", "4.791234567E+9", "4.79123E+10", "+47 412 34 567", "٤١٢٣٤٥٦٧", "'+4791234567"]
    ),
)
_NAMES = st.one_of(st.sampled_from(["Ola", " Åse ", "", "'=SUM(A1)", "Ærlend"]), st.text(max_size=6))
_IDS = st.one_of(
    st.from_regex(r"[0-9]{0,7}", fullmatch=True), st.sampled_from(["1001.0", "A-17", " 12 ", "１２"])
)
_ROWS = st.lists(
    st.one_of(
        st.tuples(_EMAILS, _NAMES, _NAMES, _PHONES, _IDS).map(list),
        st.lists(st.text(max_size=5), min_size=0, max_size=7),  # other widths
    ),
    min_size=1,
    max_size=30,
)


def _readers(headers: list[str]) -> tuple[ChunkReader, RowReader]:
    header_map = map_headers(headers, {})
    chunk = compile_chunk_reader(header_map, header_map.kind, None, file="f.csv")
    row = compile_row_reader(header_map, header_map.kind, None, file="f.csv")
    return chunk, row


def test_a_contacts_file_is_read_by_columns() -> None:
    chunk, _ = _readers(HEADERS)
    assert isinstance(chunk, ColumnReader)


@settings(max_examples=400, deadline=None)
@given(_ROWS, st.booleans())
def test_column_reader_gives_the_row_readers_rows(rows: list[list[str]], same_width: bool) -> None:
    if same_width:
        rows = [row for row in rows if len(row) == len(HEADERS)] or [["a@kunde.no", "", "", "", ""]]
    chunk, row = _readers(HEADERS)
    lines = list(range(2, 2 + len(rows)))
    expected = [row([*cells], line) for cells, line in zip(rows, lines, strict=True)]
    assert chunk([[*cells] for cells in rows], lines) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_EMAILS, _PHONES).map(list), min_size=1, max_size=20))
def test_column_reader_with_fewer_columns_gives_the_row_readers_rows(rows: list[list[str]]) -> None:
    chunk, row = _readers(["Email Address", "Phone"])
    lines = list(range(2, 2 + len(rows)))
    expected = [row([*cells], line) for cells, line in zip(rows, lines, strict=True)]
    assert chunk([[*cells] for cells in rows], lines) == expected
