"""Read import files: a CSV, or a zip of Mailchimp export files, as a stream of typed rows.

``open_import`` detects what can be told from a leading sample (encoding with charset-normalizer,
delimiter, header mapping, file kind) and fails with one :class:`InputError` when a file cannot be read
at all. Each :class:`CsvFile` then streams its rows: one ``ParsedRow`` or ``RowError`` per data row, with
the physical line the row starts on. A byte that does not decode later in the file stops the stream
with an ``InputError`` naming its offset and line, never mojibake.
"""

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from charset_normalizer import from_bytes

from connector.errors import InputError
from connector.imports.parsing.columns import compile_chunk_reader
from connector.imports.parsing.rows import (
    FieldName,
    HeaderMap,
    MailchimpStatus,
    ParsedRow,
    RowError,
    RowKind,
    RowReader,
    compile_row_reader,
    mailchimp_file_status,
    map_headers,
)
from connector.imports.workbooks import refuse_workbook

if TYPE_CHECKING:
    from connector.imports.plain_csv import PlainBatch

SAMPLE_BYTES = 128 * 1024
DELIMITERS = ",;\t|"
SNIFF_CHARACTERS = 32 * 1024
ROWS_PER_CHUNK = 2_000
"""Rows read together: a contacts file's chunk is read column by column (``parsing.columns``)."""
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SINGLE_BYTE_CANDIDATES = ["cp1252", "latin_1", "iso8859_15", "utf_16_le", "utf_16_be"]
_READ_AS_CP1252 = frozenset({"latin_1", "iso8859_1"})

Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read: ``source`` attests consent evidence (``--source``), ``column_map`` holds ``--map``
    overrides (see ``parse_column_map``), ``encoding`` overrides detection."""

    source: str | None = None
    region: str = "NO"
    column_map: Mapping[str, FieldName | None] = field(default_factory=dict)
    encoding: str | None = None
    sample_bytes: int = SAMPLE_BYTES


@dataclass(frozen=True, slots=True)
class Encoding:
    name: str
    confidence: float
    how: str


@dataclass(frozen=True, slots=True)
class FileReport:
    """What was detected in one file, and (after streaming) how many rows were read."""

    path: str
    encoding: str
    confidence: float
    delimiter: str
    kind: RowKind
    columns: tuple[tuple[str, FieldName | None], ...]
    mailchimp_status: MailchimpStatus | None = None
    notes: tuple[str, ...] = ()
    rows_read: int = 0
    row_errors: int = 0


# ---------------------------------------------------------------------------------------------------
# Encoding


def _bom_encoding(sample: bytes) -> Encoding | None:
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Encoding(name, 1.0, "byte order mark")
    return None


def _utf8_encoding(sample: bytes, whole: bool) -> Encoding | None:
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=whole)
    except UnicodeDecodeError:
        return None
    how = "valid UTF-8" if not sample.isascii() else "ASCII only in the sample, read as UTF-8"
    return Encoding("utf-8", 1.0, how)


def _detected_encoding(sample: bytes) -> Encoding | None:
    best = from_bytes(sample, cp_isolation=_SINGLE_BYTE_CANDIDATES).best()
    if best is None:
        return None
    confidence = round(1.0 - float(best.chaos), 3)
    if best.encoding in _READ_AS_CP1252:
        return Encoding(
            "cp1252", confidence, f"charset-normalizer: {best.encoding}, read as its superset cp1252"
        )
    return Encoding(best.encoding, confidence, "charset-normalizer")


def detect_encoding(sample: bytes, *, whole: bool, name: str) -> Encoding:
    """The encoding of a file from its leading ``sample`` (``whole`` when the sample is the file).

    Order: a byte order mark; strict UTF-8; charset-normalizer among Windows-1252, Latin-1, ISO 8859-15
    and BOM-less UTF-16. Anything else is a file-level error, never a silent guess.
    """
    if not sample:
        raise InputError(name, "the file is empty")
    found = _bom_encoding(sample) or _utf8_encoding(sample, whole) or _detected_encoding(sample)
    if found is None:
        raise InputError(
            name,
            "cannot tell the encoding (not UTF-8, UTF-16, Windows-1252 or Latin-1): "
            "save as UTF-8 CSV, or name it with --encoding",
        )
    return found


def _given_encoding(name: str) -> Encoding:
    try:
        return Encoding(codecs.lookup(name).name, 1.0, "given with --encoding")
    except LookupError:
        raise InputError("--encoding", f"unknown encoding {name!r}") from None


def _decoded_sample(sample: bytes, encoding: str, whole: bool, name: str) -> str:
    try:
        text = codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=whole)
    except UnicodeDecodeError as error:
        raise InputError(name, f"byte {error.start} of the file is not valid {encoding}") from None
    if whole:
        return text
    complete = max(text.rfind("\n"), text.rfind("\r"))
    return text[: complete + 1] if complete >= 0 else text


# ---------------------------------------------------------------------------------------------------
# Delimiter


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    return [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]


def _consistent_delimiter(text: str) -> str:
    """The delimiter whose header field count the most following lines repeat (ties: more fields)."""
    lines = text.splitlines(keepends=True)[:50]
    best, best_score = ",", (-1, 0)
    for delimiter in DELIMITERS:
        counts = _field_counts(lines, delimiter)
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for count in counts[1:] if count == counts[0]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff_delimiter(text: str) -> str:
    """``,`` ``;`` tab or ``|``: csv.Sniffer restricted to those, checked against the header line."""
    sample = text[:SNIFF_CHARACTERS]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return _consistent_delimiter(sample)
    fallback = _consistent_delimiter(sample)
    header_fields = _field_counts(sample.splitlines(keepends=True)[:1], sniffed)
    if sniffed not in DELIMITERS or not header_fields or header_fields[0] < 2:
        return fallback
    return sniffed


# ---------------------------------------------------------------------------------------------------
# Files


def _first_row(text: str, delimiter: str) -> tuple[list[str], int]:
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for cells in rows:
        if any(cell.strip() for cell in cells):
            return cells, rows.line_num
    return [], rows.line_num


def _decode_error_position(opener: Opener, encoding: str) -> tuple[int, int] | None:
    """(byte offset, line) of the first byte that does not decode, found by a second streaming pass."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset, newlines = 0, 0
    with opener() as raw:
        while True:
            block = raw.read(64 * 1024)
            state = decoder.getstate()
            pending = state[0] if isinstance(state, tuple) and isinstance(state[0], bytes) else b""
            try:
                newlines += decoder.decode(block, final=not block).count("\n")
            except UnicodeDecodeError as error:
                data = pending + block
                before = data[: error.start].decode(encoding, errors="replace").count("\n")
                return offset - len(pending) + error.start, newlines + before + 1
            if not block:
                return None
            offset += len(block)


class CsvFile:
    """One CSV being read: what was detected (``detected``) and its rows as a stream (``rows``)."""

    def __init__(self, name: str, opener: Opener, options: ReadOptions) -> None:
        self.name = name
        self._opener = opener
        self._options = options
        self._rows_read = 0
        self._row_errors = 0
        self.encoding, self.delimiter, self.header_map, self.header_line = self._detect()
        self.mailchimp_status = (
            mailchimp_file_status(self.header_map, name)
            if self.header_map.kind is RowKind.MAILCHIMP_EXPORT
            else None
        )

    def _detect(self) -> tuple[Encoding, str, HeaderMap, int]:
        with self._opener() as raw:
            sample = raw.read(self._options.sample_bytes + 1)
        whole = len(sample) <= self._options.sample_bytes
        sample = sample[: self._options.sample_bytes]
        if self._options.encoding:
            encoding = _given_encoding(self._options.encoding)
        else:
            encoding = detect_encoding(sample, whole=whole, name=self.name)
        text = _decoded_sample(sample, encoding.name, whole, self.name)
        delimiter = sniff_delimiter(text)
        try:
            headers, header_line = _first_row(text, delimiter)
        except csv.Error as error:
            raise InputError(self.name, f"unreadable header: {error}") from None
        if not headers:
            raise InputError(self.name, "no header row in the first part of the file")
        header_map = map_headers([h.strip() for h in headers], self._options.column_map)
        if header_map.problems:
            raise InputError(f"{self.name}:{header_line}", "; ".join(header_map.problems))
        return encoding, delimiter, header_map, header_line

    @property
    def contact_data_only(self) -> bool:
        """No consent, relationship or Mailchimp columns: every row is contact data only."""
        header_map = self.header_map
        claims = header_map.has_claims
        return header_map.kind is not RowKind.MAILCHIMP_EXPORT and not claims

    def check_kind(self, expected: RowKind | None) -> None:
        """Refuses a file whose headers make it another kind than ``--kind`` (a richer file read as a
        plainer kind is fine: its extra columns still count)."""
        found = self.header_map.kind
        if expected is None or expected is found:
            return
        if expected is RowKind.CONTACTS or (expected is RowKind.CONSENTS and found is RowKind.CONTACTS):
            return
        raise InputError(self.name, f"--kind {expected.value} given, but the headers make it {found.value}")

    @property
    def detected(self) -> FileReport:
        notes = (self.encoding.how, *self.header_map.notes)
        return FileReport(
            path=self.name,
            encoding=self.encoding.name,
            confidence=self.encoding.confidence,
            delimiter=self.delimiter,
            kind=self.header_map.kind,
            columns=self.header_map.columns,
            mailchimp_status=self.mailchimp_status,
            notes=notes,
        )

    def report(self) -> FileReport:
        """The detected facts with the rows read so far (complete once ``rows()`` is exhausted)."""
        return replace(self.detected, rows_read=self._rows_read, row_errors=self._row_errors)

    def rows(self) -> Iterator[ParsedRow | RowError]:
        """Each data row; blank rows are skipped. Raises ``InputError`` for a file-level failure (a byte
        that does not decode, unreadable CSV), after the rows of the chunks before it."""
        for chunk in self.chunks(ROWS_PER_CHUNK):
            yield from chunk

    def chunks(self, size: int) -> Iterator[list[ParsedRow | RowError]]:
        """The rows in lists of ``size`` (the last one shorter): a large file's rows without a
        generator step per row. Raises as :meth:`rows` does, after the chunks before the failure."""
        try:
            with self._opener() as raw:
                yield from self._interpreted(raw, size)
        except UnicodeDecodeError:
            raise self._decode_failure() from None
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise InputError(self.name, f"cannot read the file: {error}") from None

    def plain_batches(self) -> Iterator["PlainBatch"]:
        """The data rows as Arrow batches (``plain_csv``), for a plain file; raises ``NotPlainError`` as
        soon as the file turns out not to be plain (or cannot be read), and the caller then reads it with
        :meth:`chunks`, which reports any error. Rows counted with :meth:`count_rows`. Needs ``pyarrow``."""
        from connector.imports.plain_csv import NotPlainError, read_plain_batches

        try:
            with self._opener() as raw:
                yield from read_plain_batches(
                    raw,
                    encoding=self.encoding.name,
                    delimiter=self.delimiter,
                    width=self.header_map.width,
                    header_line=self.header_line,
                )
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise NotPlainError(f"cannot read the file: {error}") from None

    def row_reader(self) -> RowReader:
        """The per-row reader of this file (what :meth:`chunks` gives, row by row)."""
        return compile_row_reader(
            self.header_map,
            self.header_map.kind,
            self._options.source,
            file=self.name,
            region=self._options.region,
            mailchimp_status=self.mailchimp_status,
        )

    @property
    def region(self) -> str:
        return self._options.region

    def count_rows(self, read: int, errors: int) -> None:
        """Rows read outside :meth:`chunks` (from :meth:`plain_batches`), for :meth:`report`."""
        self._rows_read += read
        self._row_errors += errors

    def forget_rows(self) -> None:
        """Back to no rows read: the file is read again from its start."""
        self._rows_read = self._row_errors = 0

    def _interpreted(self, raw: IO[bytes], size: int) -> Iterator[list[ParsedRow | RowError]]:
        text = io.TextIOWrapper(raw, encoding=self.encoding.name, errors="strict", newline="")
        reader = csv.reader(text, delimiter=self.delimiter)
        for _ in range(self.header_line):
            next(reader, None)
        name = self.name
        read_chunk = compile_chunk_reader(
            self.header_map,
            self.header_map.kind,
            self._options.source,
            file=name,
            region=self._options.region,
            mailchimp_status=self.mailchimp_status,
        )
        previous = reader.line_num
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            for cells in reader:
                line = previous + 1
                previous = reader.line_num
                if not any(cells):
                    continue
                rows.append(cells)
                lines.append(line)
                if len(rows) >= size:
                    yield self._counted(read_chunk(rows, lines))
                    rows, lines = [], []
        except csv.Error as error:
            raise InputError(f"{name}:{previous + 1}", f"unreadable CSV: {error}") from None
        if rows:
            yield self._counted(read_chunk(rows, lines))

    def _counted(self, chunk: list[ParsedRow | RowError]) -> list[ParsedRow | RowError]:
        self._rows_read += len(chunk)
        self._row_errors += sum(1 for row in chunk if type(row) is RowError)
        return chunk

    def _decode_failure(self) -> InputError:
        position = _decode_error_position(self._opener, self.encoding.name)
        if position is None:
            return InputError(self.name, f"the file does not decode as {self.encoding.name}")
        offset, line = position
        return InputError(
            f"{self.name}:{line}",
            f"byte offset {offset} is not valid {self.encoding.name} (detected from the first "
            f"{self._options.sample_bytes // 1024} KiB: {self.encoding.how}); "
            "re-save the file as UTF-8 or name the encoding with --encoding",
        )


# ---------------------------------------------------------------------------------------------------
# Paths and zips


def _path_opener(path: Path) -> Opener:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with path.open("rb") as stream:
            yield stream

    return opener


def _zip_member_opener(path: Path, member: str) -> Opener:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            yield stream

    return opener


def _csv_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        names = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir()
            and info.filename.casefold().endswith((".csv", ".txt"))
            and not info.filename.startswith("__MACOSX/")
        ]
    return sorted(names)


def open_import(path: Path, options: ReadOptions | None = None) -> list[CsvFile]:
    """The files to read from ``path``: the CSV itself, or every CSV in a zip (a Mailchimp export).

    Raises ``InputError`` naming the file when one cannot be read at all.
    """
    options = options or ReadOptions()
    if not path.is_file():
        raise InputError(str(path), "no such file")
    try:
        refuse_workbook(path)
        if not zipfile.is_zipfile(path):
            return [CsvFile(str(path), _path_opener(path), options)]
        members = _csv_members(path)
        if not members:
            raise InputError(str(path), "the zip holds no .csv files")
        return [CsvFile(f"{path}/{member}", _zip_member_opener(path, member), options) for member in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise InputError(str(path), f"cannot read the file: {error}") from None


def read_rows(files: Sequence[CsvFile]) -> Iterator[ParsedRow | RowError]:
    """Every row of every file, in order."""
    for csv_file in files:
        yield from csv_file.rows()
