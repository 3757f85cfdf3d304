"""Plain CSV files read by Apache Arrow's C++ CSV reader, a batch of rows at a time.

A file is *plain* when every row is one physical line: no quote character, no NUL, no carriage return
that does not end a line (``\\r\\n``), no field over ``csv.field_size_limit()``, and it decodes in the
detected encoding. For such a file ``csv.reader`` splits each line at the delimiter and nothing else,
which is what Arrow does with quoting off, so both give the same cells on the same physical lines.
Anything else raises :class:`NotPlainError` as soon as it is seen, and the caller reads the file again
with the reference reader (``CsvFile.chunks``), which then names any error exactly as before.

The bytes are decoded strictly in Python (the detected encoding, as the reference reader does) and
handed to Arrow as UTF-8. Rows of another width than the header's come back through Arrow's invalid-row
handler with their physical line; they are yielded with the batch they fall in, for the per-row reader.
"""

import codecs
import csv
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Literal, cast

import pyarrow as pa
import pyarrow.csv as pa_csv

BLOCK_BYTES = 1 << 20
"""Bytes read and decoded at a time, and Arrow's block size (a batch is about this much text)."""


class NotPlainError(Exception):
    """The file is not plain (see the module's docstring): the reference reader must read it."""


@dataclass(frozen=True, slots=True)
class PlainBatch:
    """Consecutive rows of a plain file: ``columns`` (one string array per header column) hold the rows
    of the header's width, on ``lines``; ``odd_rows`` are the rows of another width among them, as
    ``(line, cells)``."""

    columns: list[pa.StringArray]
    lines: list[int]
    odd_rows: list[tuple[int, list[str]]]


class _Utf8Stream(io.RawIOBase):
    """The file decoded strictly and re-encoded as UTF-8, for Arrow; refuses what is not plain."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        super().__init__()
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._pending = b""
        self._carried = ""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._pending) < size):
            self._pending += self._next_block()
        if size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]  # io's buffer protocol type
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _next_block(self) -> bytes:
        block = self._raw.read(BLOCK_BYTES)
        self._done = not block
        try:
            text = self._carried + self._decoder.decode(block, final=self._done)
        except UnicodeDecodeError:
            raise NotPlainError("does not decode") from None
        self._carried = ""
        if not self._done and text.endswith("\r"):
            text, self._carried = text[:-1], "\r"  # its "\n" may open the next block
        if '"' in text or "\x00" in text or text.count("\r") != text.count("\r\n"):
            raise NotPlainError("quotes, NUL or a lone carriage return")
        return text.encode("utf-8")


class _OddRows:
    """Arrow's invalid-row handler: keeps the rows of another width, with their physical lines."""

    def __init__(self, delimiter: str, field_limit: int) -> None:
        self.rows: deque[tuple[int, list[str]]] = deque()
        self._delimiter = delimiter
        self._field_limit = field_limit

    def __call__(self, row: pa_csv.InvalidRow) -> Literal["skip"]:
        if row.number is None or row.number < 1:
            raise NotPlainError("a row without its line number")
        cells = row.text.split(self._delimiter)
        if any(len(cell) > self._field_limit for cell in cells):
            raise NotPlainError("a field over the csv field limit")
        self.rows.append((row.number, cells))
        return "skip"


def read_plain_batches(
    raw: IO[bytes], *, encoding: str, delimiter: str, width: int, header_line: int
) -> Iterator[PlainBatch]:
    """The data rows after the header (which ends on physical line ``header_line``), in file order.
    Raises :class:`NotPlainError` when the file turns out not to be plain."""
    field_limit = csv.field_size_limit()
    odd = _OddRows(delimiter, field_limit)
    next_line = header_line + 1
    held: pa.RecordBatch | None = None
    try:
        for batch in _arrow_reader(_Utf8Stream(raw, encoding), delimiter, width, header_line, odd):
            if held is not None:  # the handler has seen every row of a batch once the next one is parsed
                plain, next_line = _placed(held, next_line, odd.rows, field_limit, final=False)
                yield plain
            held = batch
    except pa.ArrowException as error:
        raise NotPlainError(str(error)) from None
    if held is not None or odd.rows:
        plain, next_line = _placed(held, next_line, odd.rows, field_limit, final=True)
        yield plain


def _arrow_reader(
    stream: _Utf8Stream, delimiter: str, width: int, header_line: int, odd: _OddRows
) -> pa_csv.CSVStreamingReader:
    """Arrow's streaming reader of every line after the header as ``width`` string cells, quoting off,
    in one thread (so the odd rows reach the handler in file order)."""
    names = [f"c{index}" for index in range(width)]
    return pa_csv.open_csv(
        cast(IO[bytes], stream),
        read_options=pa_csv.ReadOptions(
            use_threads=False, block_size=BLOCK_BYTES, column_names=names, skip_rows=header_line
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter, quote_char=False, ignore_empty_lines=False, invalid_row_handler=odd
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
        ),
    )


def _placed(
    batch: pa.RecordBatch | None,
    next_line: int,
    odd: deque[tuple[int, list[str]]],
    field_limit: int,
    *,
    final: bool,
) -> tuple[PlainBatch, int]:
    """The batch with its rows' physical lines and the odd rows among (or, when ``final``, after) them."""
    columns: list[pa.StringArray] = [] if batch is None else [c for c in batch.columns]  # type: ignore[misc]  # string columns by ConvertOptions
    if any(_longest(column) > field_limit for column in columns):
        raise NotPlainError("a field over the csv field limit")
    count = 0 if batch is None else batch.num_rows
    lines: list[int] = []
    odd_rows: list[tuple[int, list[str]]] = []
    while count:
        if odd and odd[0][0] < next_line:
            raise NotPlainError("rows out of order")
        if odd and odd[0][0] == next_line:
            odd_rows.append(odd.popleft())
            next_line += 1
            continue
        run = count if not odd else min(count, odd[0][0] - next_line)
        lines.extend(range(next_line, next_line + run))
        next_line += run
        count -= run
    while odd and (final or odd[0][0] == next_line):
        line, cells = odd.popleft()
        odd_rows.append((line, cells))
        next_line = line + 1
    return PlainBatch(columns, lines, odd_rows), next_line


def _longest(column: pa.StringArray) -> int:
    if len(column) == 0:
        return 0
    longest = pa.compute.max(pa.compute.utf8_length(column)).as_py()
    return int(longest or 0)
