"""The plan of an import whose files only carry contact data, built set-based.

For files without consent, relationship or Mailchimp columns every row is contact data only, and the
planner's rules reduce to: one contact per key (address, else ``ext:<customer id>``, else
``tel:<E.164>``) in the order keys first appear, its values the last non-empty value of each field (the
stored value where no row has one), compared with the stored contact; duplicates listed with their
lines; an erased address that is not stored blocked. So instead of a draft per person, the rows are kept
as Arrow columns (key, values, line), and at the end a dictionary encoding of the keys gives each person
a code in the order keys first appear and marks each person's first row; a person with one row is
decided from it in C-level loops. Only the unusual people (more than one row, a key that is not an
address, a stored suppression) go through the reference machinery (``merge.Draft``, ``decisions``),
which decides them exactly as the reference planner (``planner._Builder``) does.

Plain files are read by Arrow (``plain_csv``, ``contact_columns``); any other file, or one that turns
out not to be plain, is read again from its start by the reference reader (``CsvFile.chunks``). The
store is asked, per batch of keys, only for contacts and suppressions: without claims, consent events,
objections and relationships decide nothing. Of a stored contact only its id is held (and its values
when they differ from the person's first row), so a re-import against a large store stays small.
"""

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from itertools import repeat
from sys import intern
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlmodel import Session

from connector.imports.contact_columns import (
    CONTACT_COLUMNS,
    ClassifiedBatch,
    ContactFields,
    ContactTable,
    classify,
    contact_fields,
    contact_table,
)
from connector.imports.decisions import Rules, contact_decision, decide_draft
from connector.imports.merge import Draft, contact_key, is_email_key
from connector.imports.parsing.rows import ContactRow, ParsedRow, RowError, RowKind, RowReader
from connector.imports.plain_csv import NotPlainError, PlainBatch
from connector.imports.plan import (
    CONTACT_FIELDS,
    AlreadyApplied,
    ContactDecision,
    ContactStatus,
    Duplicate,
    ImportFile,
    ImportPlan,
    Line,
)
from connector.imports.plan_parts import PlanParts
from connector.imports.reader import CsvFile
from connector.imports.store_state import (
    ChunkKeys,
    ExistingContact,
    StoredSuppression,
    StoreExtent,
    contacts_by_email,
    existing_contact,
    load_state,
    stored_contacts,
    stored_suppressions,
    suppressed_hashes,
)

Progress = Callable[[int], None]
_Row = tuple[int, int, tuple[str | None, ...]]
"""A row of the import: its index, its line and its values."""
Hasher = Callable[[str], str]

_new_decision: Callable[[Any], ContactDecision] = partial(tuple.__new__, ContactDecision)
"""A :class:`ContactDecision` from a tuple of its fields, built in C."""


class ContactRows:
    """Every row read so far, in file order, as Arrow tables of ``CONTACT_COLUMNS`` (the file by row
    range)."""

    def __init__(self) -> None:
        self.tables: list[ContactTable] = []
        self.count = 0
        self._file_starts: list[int] = []
        self._files: list[str] = []
        self.unusual_keys: set[str] = set()
        """Keys that are not addresses (customer id or phone): decided through a draft."""

    def start_file(self, name: str) -> int:
        """Rows from here on are ``name``'s; returns the mark to :meth:`truncate` to."""
        self._file_starts.append(self.count)
        self._files.append(name)
        return len(self.tables)

    def truncate(self, mark: int) -> None:
        del self.tables[mark:]
        self.count = sum(table.num_rows for table in self.tables)

    def add(self, table: ContactTable) -> None:
        if table.num_rows:
            self.tables.append(table)
            self.count += table.num_rows

    def file_of(self, index: int) -> str:
        return self._files[bisect_right(self._file_starts, index) - 1]

    def combined(self) -> ContactTable:
        if not self.tables:
            return contact_table([], [], [])
        return pa.concat_tables(self.tables)


CLASSIFIED_AHEAD = 2
"""How many batches are classified in the pool while the one before them is merged."""


def _classified_ahead(
    pool: ThreadPoolExecutor, batches: Iterator[PlainBatch], fields: ContactFields
) -> Iterator[ClassifiedBatch]:
    """``classify`` of each batch, in order, run in ``pool`` while this thread merges the batch before:
    Arrow's kernels release the GIL, so on two cores the column work overlaps the Python merging.
    Reading stays in this thread (a file that is not plain raises here, as it would without the pool)."""
    pending: deque[Future[ClassifiedBatch]] = deque()
    for batch in batches:
        pending.append(pool.submit(classify, batch, fields))
        if len(pending) > CLASSIFIED_AHEAD:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class ContactPlanBuilder:
    """Builds the plan of a contacts-only import (see the module's docstring)."""

    def __init__(
        self, session: Session, rules: Rules, hasher: Hasher, extent: StoreExtent, kind: RowKind | None
    ) -> None:
        self._session = session
        self._kind = kind
        self._rules = rules
        self._hasher = hasher
        self._rows = ContactRows()
        self._rejected: list[RowError] = []
        self._look_up = extent.contacts or extent.suppressions
        self._extent = replace(extent, events=False, objections=False, relationships=False)
        self._existing: dict[str, ExistingContact] = {}
        """Stored contacts of the keys that are not addresses."""
        self._unusual_stored: dict[str, tuple[Any, ...]] = {}
        """Stored contacts (``store_state.contacts_by_email`` rows) of the people decided by a draft."""
        self._suppressed: dict[str, tuple[StoredSuppression, ...]] = {}

    # -- reading -------------------------------------------------------------------------------------

    def read(self, files: Sequence[CsvFile], progress: Progress | None) -> None:
        for csv_file in files:
            csv_file.check_kind(self._kind)
            self._read_file(csv_file, progress)

    def _read_file(self, csv_file: CsvFile, progress: Progress | None) -> None:
        mark = self._rows.start_file(csv_file.name)
        rejected = len(self._rejected)
        try:
            self._read_plain(csv_file, progress)
        except NotPlainError:
            self._rows.truncate(mark)
            del self._rejected[rejected:]
            csv_file.forget_rows()
            self._read_by_reference(csv_file, progress)

    def _read_plain(self, csv_file: CsvFile, progress: Progress | None) -> None:
        fields = contact_fields(csv_file.header_map, csv_file.region)
        read = csv_file.row_reader()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-classify") as pool:
            for classified in _classified_ahead(pool, csv_file.plain_batches(), fields):
                errors = self._add_batch(classified, read)
                count = classified.plain.num_rows + len(classified.others)
                csv_file.count_rows(count, errors)
                if progress is not None:
                    progress(count)

    def _read_by_reference(self, csv_file: CsvFile, progress: Progress | None) -> None:
        for chunk in csv_file.chunks(2_000):
            self._add_parsed(chunk, None)
            if progress is not None:
                progress(len(chunk))

    def _add_batch(self, batch: ClassifiedBatch, read: RowReader) -> int:
        """Adds the batch's rows in line order; returns how many the per-row reader refused."""
        if not batch.others:
            self._add(batch.plain)
            return 0
        parsed = [read(cells, line) for line, cells in batch.others]
        return self._add_parsed(parsed, batch.plain)

    def _add_parsed(self, parsed: Sequence[ParsedRow | RowError], plain: ContactTable | None) -> int:
        """The per-row reader's rows merged by line with the ``plain`` rows; returns how many rows it
        refused."""
        keys: list[str] = []
        values: list[tuple[str | None, ...]] = []
        lines: list[int] = []
        errors = 0
        for row in parsed:
            if type(row) is RowError:
                self._rejected.append(row)
                errors += 1
                continue
            assert type(row) is ParsedRow
            key = row.contact.email or contact_key(row.contact)
            if key is None:
                self._rejected.append(RowError(row.file, row.line, None, "no e-mail, phone or customer id"))
                continue
            if not is_email_key(key):
                self._rows.unusual_keys.add(key)
            keys.append(key)
            values.append(row.contact[1:])
            lines.append(row.line)
        table = contact_table(keys, values, lines)
        if plain is not None and plain.num_rows:
            table = pa.concat_tables([plain, table])
            table = table.take(pc.sort_indices(table.column("line")))
        self._add(table)
        return errors

    def _add(self, table: ContactTable) -> None:
        if self._look_up and self._rows.unusual_keys and table.num_rows:
            self._load_others_of(table)
        self._rows.add(table)

    def _load_others_of(self, table: ContactTable) -> None:
        """The stored contacts of the batch's keys that are not addresses (rare: asked per batch)."""
        keys: list[str] = table.column("key").to_pylist()  # type: ignore[assignment]  # no nulls
        others = set(keys) & self._rows.unusual_keys  # customer ids and phones
        if others:
            self._load_others(others)

    def _load_suppressions(self, keys: list[str]) -> None:
        """The suppression entries of every address of the import (once, when every row is read)."""
        if not self._extent.suppressions:
            return
        emails = [key for key in keys if key not in self._rows.unusual_keys]
        held = suppressed_hashes(self._session)
        hasher = self._hasher
        if held is None:  # too long to hold: ask for every address's hash
            hashes = dict(zip(map(hasher, emails), emails, strict=True))
        else:  # ask only for the hashes on the list
            hashes = {h: e for e in emails if (h := hasher(e)) in held}
        for hashed, entries in stored_suppressions(self._session, hashes).items():
            self._suppressed[hashes[hashed]] = entries

    def _decide_stored(
        self, keys: list[str], values: list[tuple[str | None, ...]], decisions: list[ContactDecision]
    ) -> None:
        """The decisions of the people the store holds, in place of ``decisions``' new ones: each stored
        contact compared with its person's first row.

        Asked once every row is read, for all the distinct addresses at once: a store not much larger
        than the import is read in one pass over its contacts (``store_state.stored_contacts``, a
        sequential read, cheaper per row than an index look-up per address), a larger one by the
        addresses (``contacts_by_email``, a batch of keys per query)."""
        if not self._extent.contacts:
            return
        unusual = self._rows.unusual_keys
        codes = {key: code for code, key in enumerate(keys) if key not in unusual}
        code_of, unchanged = codes.get, ContactStatus.UNCHANGED
        for row in stored_contacts(self._session, codes):
            code = code_of(row[1])
            if code is None:
                continue  # a stored contact the import does not name
            key, first, stored = keys[code], values[code], row[2:7]
            if first == stored:  # a re-import: the stored values are the row's
                decisions[code] = _new_decision((key, row[0], key, first, (), unchanged, False))
            else:
                decisions[code] = _stored_decision(key, row[0], stored, first)

    def _load_others(self, keys: set[str]) -> None:
        """The stored contacts of keys that are not addresses (``ext:…``, ``tel:…``)."""
        state = load_state(
            self._session,
            ChunkKeys(
                emails=frozenset(),
                external_ids=frozenset(k[4:] for k in keys if k.startswith("ext:")),
                phones=frozenset(k[4:] for k in keys if k.startswith("tel:")),
                address_hashes=frozenset(),
            ),
            self._extent,
        )
        for key in keys:
            lookup = state.by_external_id if key.startswith("ext:") else state.by_phone
            found = lookup.get(key[4:])
            if found is not None:
                self._existing[key] = found

    # -- deciding ------------------------------------------------------------------------------------

    def finish(self, files: tuple[ImportFile, ...], done: tuple[AlreadyApplied, ...]) -> ImportPlan:
        pool = pa.default_memory_pool()
        pool.release_unused()  # what reading the batches left behind, before the peak
        table = self._rows.combined()
        self._rows.tables.clear()
        columns = {name: table.column(name) for name in CONTACT_COLUMNS}
        del table
        people = _People(columns["key"])
        keys: list[str] = people.keys.to_pylist()  # type: ignore[assignment]  # no nulls
        if self._look_up:
            self._load_suppressions(keys)
        unusual = people.unusual_codes(self._rows.unusual_keys | self._suppressed.keys())
        unusual_rows = people.rows_of(unusual, columns) if unusual else {}
        first = people.first
        del people, columns["key"], columns["line"]
        pool.release_unused()  # the keys' hash table and copies, before the values are made
        values = _first_values(columns, first)  # frees the rows' columns as it goes
        pool.release_unused()  # before the decisions are built
        decisions = list(_new_decisions(keys, values))
        if self._look_up:
            self._decide_stored(keys, values, decisions)
        del values
        parts = PlanParts()
        self._unusual_stored = contacts_by_email(
            self._session, (keys[code] for code in unusual_rows if decisions[code].contact_id is not None)
        )
        dropped: set[int] = set()
        for code, rows in unusual_rows.items():
            stored = decisions[code].contact_id is not None
            decision = self._unusual_decision(keys[code], stored, rows, parts)
            if decision is None:
                dropped.add(code)
            else:
                decisions[code] = decision
        if dropped:
            decisions = [d for code, d in enumerate(decisions) if code not in dropped]
        parts.contacts = decisions
        return parts.plan(self._rules.source, files, done, self._rejected)

    def _unusual_decision(
        self, key: str, stored: bool, rows: list[_Row], parts: PlanParts
    ) -> ContactDecision | None:
        """The reference planner's decision for one person, from a draft of its rows (``stored``: the
        store holds a contact with the person's address)."""
        if is_email_key(key) and not stored and key not in self._suppressed:
            return self._new_person(key, rows, parts)
        draft = self._draft(key)
        for index, line, values in rows:
            draft.add(ParsedRow(self._rows.file_of(index), line, ContactRow(None, *values)), False)
        if draft.more_lines:
            parts.duplicates.append(Duplicate(draft.key, tuple(draft.lines)))
        if not draft.suppressions:
            return contact_decision(draft)
        outcome = decide_draft(draft, None, self._rules)
        parts.add_outcome(replace(outcome, contact=None))
        return outcome.contact

    def _new_person(self, key: str, rows: list[_Row], parts: PlanParts) -> ContactDecision:
        """A draft's decision for an address the store knows nothing of, without the draft: each field
        the last row's value that has one (the rows are undated), every line listed."""
        values = rows[0][2]
        for _, _, more in rows[1:]:
            values = tuple(new if new is not None else old for old, new in zip(values, more, strict=True))
        file_of = self._rows.file_of
        parts.duplicates.append(Duplicate(key, tuple(Line(file_of(index), line) for index, line, _ in rows)))
        return _new_decision((key, None, key, values, (), ContactStatus.NEW, True))

    def _draft(self, key: str) -> Draft:
        if is_email_key(key):
            row = self._unusual_stored.get(key)
            existing = existing_contact(self._session, row) if row else None
            return Draft(key, key, existing, self._suppressed.get(key, ()))
        found = self._existing.get(key)
        return Draft(key, found.email if found else None, found, ())


class _People:
    """The people of an import's rows: each distinct key, coded in the order keys first appear."""

    def __init__(self, keys: "pa.ChunkedArray[Any]") -> None:
        encoded: Any = pc.dictionary_encode(keys)  # one dictionary for every chunk
        chunks = encoded.chunks
        self.keys: pa.StringArray = chunks[0].dictionary if chunks else pa.array([], pa.string())
        self._codes: pa.Int32Array = pa.concat_arrays(
            [chunk.indices for chunk in chunks] or [pa.array([], pa.int32())]
        )
        seen_before = pc.cumulative_max(self._codes)
        earlier = pa.concat_arrays([pa.array([-1], pa.int32()), seen_before])[: len(seen_before)]
        self.first = pc.greater(self._codes, earlier)
        """Whether a row is its key's first (codes are given in order, so a new code exceeds them all)."""

    def unusual_codes(self, keys: set[str]) -> set[int]:
        """The codes of people with more than one row or with one of ``keys``."""
        repeated = self._codes.filter(pc.invert(self.first))
        codes: set[int] = set(pc.unique(repeated).to_pylist())  # type: ignore[arg-type]
        if keys:
            found = pc.index_in(pa.array(list(keys), pa.string()), value_set=self.keys)
            codes.update(code for code in found.to_pylist() if code is not None)
        return codes

    def rows_of(self, codes: set[int], columns: "dict[str, pa.ChunkedArray[Any]]") -> dict[int, list[_Row]]:
        """The rows of each of ``codes``, the codes in increasing order (the order keys first appear)."""
        chosen = pc.is_in(self._codes, value_set=pa.array(sorted(codes), pa.int32()))
        indices = pc.indices_nonzero(chosen)
        values = [columns[name].take(indices).to_pylist() for name in CONTACT_COLUMNS[1:-1]]
        rows = zip(
            indices.to_pylist(),
            columns["line"].take(indices).to_pylist(),
            zip(*values, strict=True),
            strict=True,
        )
        found: dict[int, list[_Row]] = {}
        for code, row in zip(self._codes.take(indices).to_pylist(), rows, strict=True):
            found.setdefault(cast(int, code), []).append(cast(_Row, row))
        return dict(sorted(found.items()))


def _new_decisions(keys: list[str], values: list[tuple[str | None, ...]]) -> Iterator[ContactDecision]:
    """Each person's decision from its first row as a new contact (built in C), for
    ``ContactPlanBuilder._decide_stored`` and the unusual people to replace."""
    new = ContactStatus.NEW
    return map(_new_decision, zip(keys, repeat(None), keys, values, repeat(()), repeat(new), repeat(True)))


def _stored_decision(
    key: str, contact_id: str, stored: tuple[str | None, ...], values: tuple[str | None, ...]
) -> ContactDecision:
    """``decisions.contact_decision`` of a stored person with one undated row of contact data that
    differs from the stored values: each field the row's value where it has one."""
    merged = tuple(new if new is not None else old for old, new in zip(stored, values, strict=True))
    changed = _changed_fields(stored, merged)
    status = ContactStatus.UPDATED if changed else ContactStatus.UNCHANGED
    return _new_decision((key, contact_id, key, merged, changed, status, bool(changed)))


def _first_values(
    columns: "dict[str, pa.ChunkedArray[Any]]", first: pa.BooleanArray
) -> list[tuple[str | None, ...]]:
    """Each person's values in its first row, a column at a time; each column is dropped from
    ``columns`` once read, so its memory goes before the next one's Python values are made."""

    def taken(name: str, interned: bool) -> list[str | None]:
        cells = columns.pop(name).filter(first)
        return _interned(cells) if interned else cells.to_pylist()

    return list(
        zip(
            taken("phone", False),
            taken("first_name", True),
            taken("last_name", True),
            taken("external_id", False),
            taken("locale", True),
            strict=True,
        )
    )


def _interned(cells: "pa.ChunkedArray[Any]") -> list[str | None]:
    """Names and locales, each distinct value one interned string (as the per-row reader holds them)."""
    encoded: Any = pc.dictionary_encode(cells.combine_chunks())  # the stubs lack its type
    distinct = [intern(text) if text else None for text in encoded.dictionary.to_pylist()]
    distinct.append(None)
    indices: list[int] = pc.fill_null(encoded.indices, len(distinct) - 1).to_pylist()
    return list(map(distinct.__getitem__, indices))


def _changed_fields(before: tuple[str | None, ...], after: tuple[str | None, ...]) -> tuple[str, ...]:
    if before == after:
        return ()
    return tuple(name for name, old, new in zip(CONTACT_FIELDS, before, after, strict=True) if old != new)
