"""Exports: formula-safe CSV (every field quoted, UTF-8, optional BOM) that re-imports to the same values."""

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.core.model import Channel, ConsentAction, ConsentMethod
from connector.exports.service import ExportRequest, export
from connector.exports.writer import write_csv
from connector.imports.parsing.rows import ParsedRow, RowKind
from connector.imports.reader import ReadOptions, open_import, read_rows
from connector.imports.service import ImportRequest, run_import
from connector.services.consents import Evidence, record_consent
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext, Origin
from connector.store.engine import unit_of_work

STAFF = Origin(actor="test", source="cli")
PEOPLE = [
    ContactInput(email="ase@example.no", first_name="Åse", last_name="Ødegård-Hæreid", phone="+4791234567"),
    ContactInput(
        email="hacker@firma.no",
        first_name='=HYPERLINK("http://evil.example.no","klikk")',
        last_name="@SUM(A1)",
    ),
    ContactInput(email="minus@firma.no", first_name="-Bjørn", last_name="+Ærlend", external_id="K-0012"),
    ContactInput(email="quote@firma.no", first_name="'=already quoted", last_name="Tab\tin the middle"),
]


@pytest.fixture
def people(ctx: AppContext) -> None:
    with unit_of_work(ctx.engine) as session:
        for person in PEOPLE:
            upsert_contact(session, ctx, person, STAFF, ctx.now())
    evidence = Evidence(
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC), method=ConsentMethod.CHECKOUT, notice_version="v1"
    )
    record_consent(ctx, "ase@example.no", ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence, STAFF)


def test_every_formula_trigger_is_neutralised_and_every_field_quoted() -> None:
    out = io.StringIO()
    write_csv(out, ["name"], [["=1+1"], ["+47"], ["-5"], ["@x"], ["\tx"], ["\rx"], ["plain"]], bom=True)

    text = out.getvalue()
    assert text.startswith("\ufeff")
    lines = text[1:].split("\r\n")
    assert lines[:2] == ['"name"', '"\'=1+1"']
    assert [row[0] for row in csv.reader(io.StringIO(text[1:]))][1:] == [
        "'=1+1",
        "'+47",
        "'-5",
        "'@x",
        "'\tx",
        "'\rx",
        "plain",
    ]


@pytest.mark.usefixtures("people")
def test_an_export_reimports_to_the_same_values(ctx: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    assert export(ctx, ExportRequest(audience="main"), "csv", True, path) == len(PEOPLE)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    (csv_file,) = open_import(path, ReadOptions())
    rows = [r for r in read_rows([csv_file]) if isinstance(r, ParsedRow)]
    read_back = {r.contact.email: r.contact for r in rows}
    for person in PEOPLE:
        contact = read_back[person.email]
        assert (contact.first_name, contact.last_name) == (person.first_name, person.last_name)
        assert contact.phone == person.phone
        assert contact.external_id == person.external_id
    plan = run_import(ctx, ImportRequest(paths=[path], kind=RowKind.CONTACTS, apply=True))
    assert plan.counts()["contacts_unchanged"] == len(PEOPLE)
    assert plan.counts()["rows_rejected"] == 0


@pytest.mark.usefixtures("people")
def test_export_shows_current_entitlements(ctx: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export(ctx, ExportRequest(audience="main", purpose="newsletter"), "json", False, path)

    documents = {d["email"]: d for d in json.loads(path.read_text("utf-8"))}
    assert documents["ase@example.no"]["newsletter_email"] == "allow"
    assert documents["ase@example.no"]["newsletter_email_basis"] == "consent"
    assert documents["hacker@firma.no"]["newsletter_email"] == "deny"
    assert documents["hacker@firma.no"]["first_name"] == PEOPLE[1].first_name  # JSON: no neutralising
    assert "offers_email" not in documents["ase@example.no"]


@pytest.mark.usefixtures("people")
def test_a_parquet_export_holds_what_the_json_export_holds(ctx: AppContext, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    as_json, as_parquet = tmp_path / "export.json", tmp_path / "export.parquet"
    assert export(ctx, ExportRequest(audience="main"), "json", False, as_json) == len(PEOPLE)
    assert export(ctx, ExportRequest(audience="main"), "parquet", False, as_parquet) == len(PEOPLE)
    table = pq.read_table(as_parquet)
    assert table.column_names == list(json.loads(as_json.read_text())[0])
    assert table.to_pylist() == json.loads(as_json.read_text())


def test_a_parquet_export_needs_a_file(ctx: AppContext) -> None:
    from connector.errors import InputError

    with pytest.raises(InputError, match="--output"):
        export(ctx, ExportRequest(audience="main"), "parquet", False, None)
