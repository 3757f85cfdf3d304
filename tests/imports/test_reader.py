import zipfile
from pathlib import Path

import pytest

from connector.errors import InputError
from connector.imports.parsing.rows import (
    FieldName,
    MailchimpStatus,
    ParsedRow,
    RowError,
    RowKind,
    parse_column_map,
)
from connector.imports.reader import (
    CsvFile,
    ReadOptions,
    detect_encoding,
    open_import,
    read_rows,
    sniff_delimiter,
)
from tests.imports import make_fixtures

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["Ola", "Kari", "Bjørn", "Åse", "ÆSE"]
SURNAMES = ["Nordmann", "Ærlig", "Øvergård", "Ødegård", "ÅSEN"]


def _single(name: str, options: ReadOptions | None = None) -> CsvFile:
    (csv_file,) = open_import(FIXTURES / name, options)
    return csv_file


def _parsed(csv_file: CsvFile) -> list[ParsedRow]:
    rows = list(csv_file.rows())
    assert all(isinstance(row, ParsedRow) for row in rows), rows
    return [row for row in rows if isinstance(row, ParsedRow)]


def test_committed_fixtures_match_the_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(make_fixtures, "FIXTURES", tmp_path)
    make_fixtures.main()
    for generated in tmp_path.iterdir():
        assert generated.read_bytes() == (FIXTURES / generated.name).read_bytes(), generated.name


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("contacts_utf8_comma.csv", "utf-8", ","),
        ("contacts_utf8_bom_semicolon.csv", "utf-8-sig", ";"),
        ("contacts_utf16_tab.txt", "utf-16", "\t"),
        ("contacts_cp1252_semicolon.csv", "cp1252", ";"),
        ("contacts_latin1_pipe.csv", "cp1252", "|"),
    ],
)
def test_every_encoding_and_delimiter_reads_the_same_people(name: str, encoding: str, delimiter: str) -> None:
    csv_file = _single(name)
    rows = _parsed(csv_file)
    report = csv_file.report()
    assert (report.encoding, report.delimiter, report.kind) == (encoding, delimiter, RowKind.CONTACTS)
    assert report.confidence > 0.5
    assert report.notes[0]  # how the encoding was chosen is always stated
    assert [r.contact.first_name for r in rows] == NAMES
    assert [r.contact.last_name for r in rows] == SURNAMES
    assert rows[1].contact.email == "kari.ærlig@example.no"
    assert rows[2].contact.email == "bjorn@example.no"
    assert [r.contact.phone for r in rows[:4]] == ["+4791234567", "+4741234567", "+4798765432", "+4792345678"]
    assert [r.line for r in rows] == [2, 3, 4, 5, 6]
    assert report.rows_read == 5
    assert report.row_errors == 0


def test_latin1_is_reported_as_read_through_cp1252() -> None:
    detected = _single("contacts_latin1_pipe.csv").detected
    assert detected.encoding == "cp1252"
    assert "charset-normalizer" in detected.notes[0]


def test_quoted_newlines_keep_physical_line_numbers() -> None:
    rows = list(_single("quoted_newlines.csv").rows())
    assert [row.line for row in rows] == [2, 4, 5, 8]
    assert isinstance(rows[-1], RowError)
    assert rows[-1].column == "Mobil"


def test_excel_damage_is_repaired_or_rejected_with_a_reason() -> None:
    rows = list(_single("excel_damage_cp1252.csv").rows())
    repaired = [row for row in rows if isinstance(row, ParsedRow)]
    rejected = {row.line: row for row in rows if isinstance(row, RowError)}
    assert [r.contact.phone for r in repaired] == ["+4791234567"] * 3
    assert repaired[0].contact.external_id == "1001"
    assert {r.relationship.started_at.date().isoformat() for r in repaired if r.relationship} == {
        "2024-03-01"
    }
    assert rejected[3].column == "Mobil"
    assert "lost digits" in rejected[3].reason
    assert rejected[6].column == "Kjøpsdato"


def test_a_late_byte_that_does_not_decode_is_a_file_error_with_offset_and_line() -> None:
    csv_file = _single("late_bad_byte.csv")
    assert csv_file.detected.encoding == "utf-8"
    rows = csv_file.rows()
    with pytest.raises(InputError) as raised:
        for _ in rows:
            pass
    assert raised.value.where.endswith(":7002")
    assert "byte offset 203020" in raised.value.reason


def test_encoding_can_be_given_instead_of_detected() -> None:
    csv_file = _single("late_bad_byte.csv", ReadOptions(encoding="cp1252"))
    rows = list(csv_file.rows())
    assert len(rows) == 7001
    last = rows[-1]
    assert isinstance(last, ParsedRow)
    assert last.contact.first_name == "Bjørn"


def test_mailchimp_zip_is_read_whole_with_status_from_header_and_name() -> None:
    files = open_import(FIXTURES / "mailchimp_export.zip", ReadOptions(source="mailchimp-export-2024-03"))
    by_status = {f.detected.mailchimp_status: f for f in files}
    assert set(by_status) == {
        MailchimpStatus.SUBSCRIBED,
        MailchimpStatus.UNSUBSCRIBED,
        MailchimpStatus.CLEANED,
    }
    assert all(f.detected.kind is RowKind.MAILCHIMP_EXPORT for f in files)
    subscribed = _parsed(by_status[MailchimpStatus.SUBSCRIBED])
    assert [r.consent is not None for r in subscribed] == [True, True, False]
    assert subscribed[0].contact.email == "sub.one@example.com"
    assert subscribed[0].consent
    assert subscribed[0].consent.confirmed_at is not None
    unsubscribed = _parsed(by_status[MailchimpStatus.UNSUBSCRIBED])
    assert unsubscribed[0].withdrawal
    assert unsubscribed[0].withdrawal.campaign == "Februar-tilbud"
    assert unsubscribed[0].withdrawal.reason == "NORMAL: Too many e-mails"
    cleaned = _parsed(by_status[MailchimpStatus.CLEANED])
    assert cleaned[0].undeliverable
    assert cleaned[0].undeliverable.campaign_id == "def456"
    assert len(list(read_rows(files))) == 6


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("orders_no.csv", RowKind.RELATIONSHIPS),
        ("subscriptions_en.csv", RowKind.RELATIONSHIPS),
        ("accounts_en.csv", RowKind.RELATIONSHIPS),
        ("consents_no.csv", RowKind.CONSENTS),
    ],
)
def test_relationship_and_consent_files_are_recognised(name: str, kind: RowKind) -> None:
    assert _single(name).detected.kind is kind


def test_map_option_renames_a_column(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Adresse for nyhetsbrev;Navn\nola@example.no;Ola\n", encoding="utf-8")
    with pytest.raises(InputError, match="--map"):
        open_import(path)
    options = ReadOptions(column_map=parse_column_map(["Adresse for nyhetsbrev=email", "Navn=first_name"]))
    (csv_file,) = open_import(path, options)
    assert dict(csv_file.detected.columns)["Adresse for nyhetsbrev"] is FieldName.EMAIL
    assert _parsed(csv_file)[0].contact.first_name == "Ola"


def test_duplicate_meaning_columns_are_one_file_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("E-post,Mobil,Telefon\na@example.no,91234567,92345678\n", encoding="utf-8")
    with pytest.raises(InputError, match="'Mobil', 'Telefon'"):
        open_import(path)


def test_wrong_column_counts_are_row_errors(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        "email;first_name\na@example.no;A\nb@example.no\nc@example.no;C;extra\nd@example.no;D;;\n"
    )
    rows = list(open_import(path)[0].rows())
    assert [type(row).__name__ for row in rows] == ["ParsedRow", "RowError", "RowError", "ParsedRow"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"\n\n", "no header"), (b"\x00\xff\xfe\x81\x8d" * 50, "encoding")],
)
def test_unreadable_files_are_one_input_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        list(read_rows(open_import(path)))


def test_a_zip_without_csv_files_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.md", "hi")
    with pytest.raises(InputError, match=r"no \.csv"):
        open_import(path)


def test_detect_encoding_names_its_reason() -> None:
    assert detect_encoding("Ærlig;Ø\n".encode("cp1252"), whole=True, name="f").name == "cp1252"
    assert detect_encoding("Ærlig;Ø\n".encode(), whole=True, name="f").how == "valid UTF-8"
    truncated = "Ærlig;Ø\n".encode()[:-2]  # cut inside 'Ø'
    assert detect_encoding(truncated, whole=False, name="f").name == "utf-8"


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('"Navn, fullt";E-post\n"Nordmann, Ola";o@x.no\n', ";"),
    ],
)
def test_delimiter_is_sniffed(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter
