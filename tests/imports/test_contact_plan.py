"""The set-based planner of contacts-only imports (Arrow reader, column classification, grouping) gives
exactly the reference planner's plan and report: the same contacts, values, duplicates with their
lines, rejections with file:line:column: reason, blocked rows, counts and detected encoding."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session

from connector.core.model import SuppressionReason
from connector.errors import InputError
from connector.imports import plain_csv, store_state
from connector.imports.contact_columns import (
    national_number_test,
    plain_address_mask,
    plain_phone_mask,
    repaired_phones,
)
from connector.imports.contact_plan import CLASSIFIED_AHEAD
from connector.imports.parsing.values import national_phone_match, parse_phone, plain_address_match
from connector.imports.plan import ImportPlan
from connector.imports.planner import PlanRequest, build_plan
from connector.imports.report import plan_document, render_text
from connector.imports.service import ImportRequest, import_rules, open_sources
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext, Origin
from connector.services.suppressions import suppress
from connector.store.engine import unit_of_work
from connector.store.tables import ContactRow, HistoryRow, SuppressionRow

STAFF = Origin(actor="test", source="cli")
STORED = ["ola@kunde.no", "kari@firma.no", "per@blåbær.no", "a--b@kunde.no"]
"""Addresses the store may hold; the import's rows draw from these and a few it cannot hold."""
POOL = [*STORED, "x@kunde--x.no", "z@y.test"]
HEADERS = st.sampled_from(
    [
        ["E-post", "Fornavn", "Etternavn", "Mobil", "Kundenummer"],
        ["Email Address", "First Name", "Phone"],
        ["Kundenummer", "Mobil", "E-post", "Språk", "Notat"],
        ["Mobil", "Kundenummer"],
    ]
)
EMAILS = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL).map(lambda e: f"  {e.upper()} "),
    st.sampled_from(POOL).map(str.capitalize),
    st.sampled_from(
        ["", "ola@@x.no", "'=ola@x.no", "ola@kunde.no.", '"a b"@x.no', "\x1cola@kunde.no", "ola@kunde.no\xa0"]
    ),
    st.from_regex(r"[a-z0-9._+-]{1,8}@[a-z0-9-]{1,6}\.(no|com|test|local|x)", fullmatch=True),
)
PHONES = st.one_of(
    st.sampled_from(
        [
            *("", "91234567", "41234567", "01234567", "4791234567.0", "4.791234567E+9", "4.79123E+10"),
            *("+47 412 34 567", "٤١٢٣٤٥٦٧", "'+4791234567", " 92345678 ", "12345", "0047 91234567"),
        ]
    ),
    st.from_regex(r"[0-9]{0,11}", fullmatch=True),
)
NAMES = st.one_of(
    st.sampled_from(["Ola", " Åse ", "", "'=SUM(A1)", "Ærlend", "Ola\u2003", "\x1dKari"]),
    st.text(alphabet="abcæøå '\t\x0b", max_size=5),
)
IDS = st.one_of(
    st.from_regex(r"[0-9]{0,6}", fullmatch=True), st.sampled_from(["1001.0", "A-17", " 12 ", "１２"])
)
CELL = st.one_of(EMAILS, PHONES, NAMES, IDS)


@st.composite
def contact_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """A contacts file: its bytes and a name; varied encodings, delimiters, line ends, quoting,
    blank lines, odd widths and Excel damage, the addresses drawn from a small pool (duplicates)."""
    headers: list[str] = draw(HEADERS)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    quoting = draw(st.sampled_from(["none"] * 6 + ["one field", "every field"]))
    lines = [delimiter.join(headers)]
    if draw(st.booleans()):
        lines.insert(0, "")
    for _ in range(draw(st.integers(0, 25))):
        shape = draw(st.integers(0, 19))
        if shape == 0:
            lines.append("")
        elif shape == 1:
            lines.append(delimiter * draw(st.integers(0, len(headers) + 1)))
        elif shape == 2:
            lines.append(delimiter.join(_unquoted(draw(st.lists(CELL, max_size=len(headers) + 2)))))
        else:
            cells = [draw(_cell_for(header)).replace(delimiter, "") for header in headers]
            lines.append(delimiter.join(_quoted(_unquoted(cells), quoting)))
            if quoting == "one field":
                quoting = "none"
    text = newline.join(lines) + draw(st.sampled_from([newline, "", newline + newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    return data, f"contacts{draw(st.integers(0, 1))}.csv"


def _unquoted(cells: list[str]) -> list[str]:
    return [cell.replace('"', "") for cell in cells]


def _quoted(cells: list[str], quoting: str) -> list[str]:
    """Every field quoted, the first one only (a file the reference reader reads), or none."""
    if quoting == "none":
        return cells
    quoted = ['"' + cell + '"' for cell in cells]
    return quoted if quoting == "every field" else [quoted[0], *cells[1:]]


def _cell_for(header: str) -> st.SearchStrategy[str]:
    if header in ("E-post", "Email Address"):
        return EMAILS
    if header in ("Mobil", "Phone"):
        return PHONES
    if header == "Kundenummer":
        return IDS
    return NAMES


@st.composite
def store_states(draw: st.DrawFn) -> list[tuple[str, str]]:
    """What the store holds before the import: (what, address) for contacts and suppressions."""
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["contact", "named contact", "unsubscribed", "erased"]),
                st.sampled_from(STORED),
            ),
            max_size=5,
        )
    )


def _seed(ctx: AppContext, state: list[tuple[str, str]]) -> None:
    with unit_of_work(ctx.engine) as session:
        for table in (SuppressionRow, HistoryRow, ContactRow):
            session.execute(delete(table))
        for number, (what, email) in enumerate(state):
            at = ctx.now() - timedelta(days=number + 1)
            if what in ("contact", "named contact"):
                data = ContactInput(email=email, external_id=str(100 + number), phone="91234567")
                if what == "named contact":
                    data = ContactInput(email=email, first_name="Gammel", locale="nb")
                upsert_contact(session, ctx, data, STAFF, at)
            else:
                reason = SuppressionReason.ERASED if what == "erased" else SuppressionReason.UNSUBSCRIBED
                suppress(session, email, ctx.suppression_key, reason, STAFF, at)


@contextmanager
def _files(contents: list[tuple[bytes, str]]) -> Iterator[list[Path]]:
    with tempfile.TemporaryDirectory() as directory:
        paths = []
        for number, (data, name) in enumerate(contents):
            path = Path(directory) / f"{number}-{name}"
            path.write_bytes(data)
            paths.append(path)
        yield paths


def _plan(ctx: AppContext, paths: list[Path], set_based: bool) -> ImportPlan:
    """The dry-run plan of ``paths``, set-based or by the reference planner (files opened afresh)."""
    request = ImportRequest(paths=paths)
    sources = open_sources(request, ctx.settings.contacts.default_region)
    plan_request = PlanRequest(sources, import_rules(ctx.settings, request, ctx), ctx.suppression_key)
    with Session(ctx.engine) as session:
        plan = build_plan(session, plan_request, set_based=set_based)
        session.rollback()
    return plan


def _outcome(ctx: AppContext, paths: list[Path], set_based: bool) -> ImportPlan | str:
    """The plan, or the file-level error's text."""
    try:
        return _plan(ctx, paths, set_based)
    except InputError as error:
        return str(error)


def _note(outcome: ImportPlan | str) -> None:
    """What an example covered (``--hypothesis-show-statistics``)."""
    if isinstance(outcome, str):
        event("file-level error")
        return
    for name in ("contacts", "rejected", "duplicates", "blocked"):
        if getattr(outcome, name):
            event(name)
    if any(c.contact_id for c in outcome.contacts):
        event("stored contacts")


PLANS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PLANS
@given(st.lists(contact_files(), min_size=1, max_size=2), store_states())
def test_set_based_plan_equals_the_reference_plan(
    ctx: AppContext, contents: list[tuple[bytes, str]], state: list[tuple[str, str]]
) -> None:
    _seed(ctx, state)
    with _files(contents) as paths:
        fast, reference = _outcome(ctx, paths, True), _outcome(ctx, paths, False)
    assert fast == reference
    _note(fast)
    if isinstance(fast, ImportPlan) and isinstance(reference, ImportPlan):
        assert render_text(fast, False) == render_text(reference, False)
        assert plan_document(fast, False) == plan_document(reference, False)


@PLANS
@given(st.lists(contact_files(), min_size=1, max_size=2), store_states())
def test_set_based_plan_by_address_look_ups_equals_the_reference_plan(
    ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    contents: list[tuple[bytes, str]],
    state: list[tuple[str, str]],
) -> None:
    """As above, with the stored contacts asked for by address (a store larger than the import) rather
    than read in one pass over the contacts table."""
    monkeypatch.setattr(store_state, "SCAN_FACTOR", 0)
    _seed(ctx, state)
    with _files(contents) as paths:
        fast, reference = _outcome(ctx, paths, True), _outcome(ctx, paths, False)
    assert fast == reference


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[a-z0-9._+-]{1,70}@[a-z0-9.-]{1,70}\.[a-z]{1,5}", fullmatch=True),
        st.from_regex(r"[a-z0-9]{1,3}@[a-z0-9]{1,3}(\.[a-z0-9-]{1,64}){1,5}", fullmatch=True),
        st.sampled_from(["a@b.test", "a@b.local.no", "a@x--y.no", "a--b@x.no", "a@b.no\n", "@b.no", "a@b.n"]),
        st.text(alphabet="ab.@-_+9", max_size=20),
    )
)
def test_arrow_address_test_is_the_fast_paths_regex(address: str) -> None:
    lowered = address.lower()
    if not lowered.isascii():
        return
    mask = plain_address_mask(pa.array([lowered], pa.string())).to_pylist()
    assert mask == [plain_address_match(lowered) is not None]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9]{0,12}", fullmatch=True),
        st.sampled_from(["91234567", "41234567", "80012345", "02000", "23456", "81012345", " 9"]),
    )
)
def test_arrow_phone_test_is_the_fast_paths_regex(number: str) -> None:
    test = national_number_test("NO")
    match = national_phone_match("NO")
    assert test is not None
    assert match is not None
    mask = plain_phone_mask(pa.array([number], pa.string()), test).to_pylist()
    assert mask == [number == "" or match[0](number) is not None]


@pytest.mark.parametrize(
    "text",
    [
        'E-post;Mobil\r\nola@kunde.no;91234567\r\n"kari@firma.no";\r\n',  # a quote: the reference reader
        "E-post;Mobil\rola@kunde.no;91234567\r",  # lone carriage returns
        "E-post;Mobil\r\nola@kunde.no;" + "9" * 200_000 + "\r\n",  # a field over the csv limit
        "E-post;Mobil\r\n",  # no rows
    ],
    ids=["quote", "lone-cr", "field-limit", "no-rows"],
)
def test_files_that_are_not_plain_are_read_by_the_reference_reader(
    ctx: AppContext, tmp_path: Path, text: str
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(text.encode("utf-8"))
    assert _outcome(ctx, [path], True) == _outcome(ctx, [path], False)


def test_a_byte_that_does_not_decode_fails_as_in_the_reference_reader(
    ctx: AppContext, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"E-post;Mobil\r\n" + b"ola@kunde.no;91234567\r\n" * 20_000 + b"\xff\xfe;1\r\n")
    error = _outcome(ctx, [path], True)
    assert isinstance(error, str)
    assert "is not valid utf-8" in error
    assert error == _outcome(ctx, [path], False)


def _excel_damaged(digits: str) -> st.SearchStrategy[str]:
    scientific = f"{digits[0]}.{digits[1:]}E+{len(digits) - 1}" if len(digits) > 1 else digits
    return st.sampled_from(
        [digits, f"{digits}.0", f"{digits},00", scientific, scientific.replace("E+", "e"), f"00{digits}"]
    )


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"(47|0047|00)?([2-9][0-9]{7}|[0-9]{1,9})", fullmatch=True).flatmap(_excel_damaged),
        st.sampled_from(
            ["4.79123E+10", "4.7912345E+9", "9.1234567E+7", "4791234567.5", "1E+7", "٤١٢٣٤٥٦٧.0"]
        ),
    )
)
def test_arrow_phone_repair_gives_parse_phones_answer(text: str) -> None:
    test = national_number_test("NO")
    assert test is not None
    repaired = repaired_phones(pa.array([text], pa.string()), test).to_pylist()[0]
    if repaired is None:
        event("left to the per-row reader")
        return
    assert repaired == parse_phone(text, "NO")


def test_a_file_of_many_batches_classified_ahead_gives_the_reference_plan(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are classified in a worker thread ahead of the merging: with a block of 4 KiB the file
    is some 30 batches, with duplicates and a bad row far apart, and the plan is still the reference's."""
    monkeypatch.setattr(plain_csv, "BLOCK_BYTES", 4096)
    rows = [f"person{i % 2_500}@kunde.no;9{i % 2_500:07d}" for i in range(3_000)]
    rows[1_700] = "ola@@kunde.no;91234567"
    path = tmp_path / "contacts.csv"
    path.write_bytes(("E-post;Mobil\r\n" + "\r\n".join(rows) + "\r\n").encode("cp1252"))
    with path.open("rb") as raw:
        batches = list(
            plain_csv.read_plain_batches(raw, encoding="cp1252", delimiter=";", width=2, header_line=1)
        )
    assert len(batches) > CLASSIFIED_AHEAD + 2
    fast = _outcome(ctx, [path], True)
    assert isinstance(fast, ImportPlan)
    assert (fast.counts()["duplicates_merged"], fast.counts()["rows_rejected"]) == (500, 1)
    assert fast == _outcome(ctx, [path], False)
