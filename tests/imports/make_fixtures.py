"""Write the import fixtures in ``tests/imports/fixtures/``; the generated files are committed.

Run: ``.venv/bin/python tests/imports/make_fixtures.py``. Every file is written byte for byte here, so
a change to a fixture is a change to this script.
"""

import zipfile
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

NORWEGIAN_PEOPLE = (
    ("ola.nordmann@example.no", "Ola", "Nordmann", "91234567", "1001"),
    ("Kari.Ærlig@Example.NO", "Kari", "Ærlig", "+47 412 34 567", "1002"),
    (" bjorn@example.no ", "Bjørn", "Øvergård", "004798765432", "1003"),
    ("aase@example.no", "Åse", "Ødegård", "47 92 34 56 78", "1004"),
    ("ASE@example.no", "ÆSE", "ÅSEN", "", "1005"),
)


def _rows(header: list[str], rows: list[list[str]], delimiter: str, newline: str = "\r\n") -> str:
    def cell(value: str) -> str:
        if any(c in value for c in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(cell(v) for v in row) + newline for row in [header, *rows])


def _people(header: list[str], delimiter: str) -> str:
    return _rows(header, [list(p) for p in NORWEGIAN_PEOPLE], delimiter)


def contacts_files() -> dict[str, bytes]:
    english = ["Email Address", "First Name", "Last Name", "Phone", "Customer id"]
    norwegian = ["E-post", "Fornavn", "Etternavn", "Mobil", "Kundenummer"]
    mixed = ["e-mail", "Fornavn", "Last name", "Telefon", "Kundenr"]
    return {
        "contacts_utf8_comma.csv": _people(english, ",").encode("utf-8"),
        "contacts_utf8_bom_semicolon.csv": _people(norwegian, ";").encode("utf-8-sig"),
        "contacts_utf16_tab.txt": _people(norwegian, "\t").encode("utf-16"),
        "contacts_cp1252_semicolon.csv": _people(norwegian, ";").encode("cp1252"),
        "contacts_latin1_pipe.csv": _people(mixed, "|").encode("latin-1"),
    }


def quoted_newlines() -> bytes:
    header = ["E-post", "Fornavn", "Notat", "Mobil"]
    rows = [
        ["en@example.no", "En", "første linje\nandre linje", "91234567"],
        ["to@example.no", "To", "uten linjeskift", "92345678"],
        ["tre@example.no", "Tre", 'sitat "med" to\n\nlinjeskift, og komma', "93456789"],
        ["fire@example.no", "Fire", "", "ikke et nummer"],
    ]
    return _rows(header, rows, ",").encode("utf-8")


def excel_damage() -> bytes:
    header = ["E-post", "Mobil", "Kundenummer", "Kjøpsdato", "Ordrenummer", "Reservasjon tilbudt", "Beløp"]
    rows = [
        ["float@example.no", "4791234567.0", "1001.0", "45352", "A-1", "x", "1 234,50"],
        ["sci@example.no", "4.79123E+10", "1002", "01.03.2024", "A-2", "Ja", "1234.50"],
        ["exact@example.no", "4.791234567E+9", "1003", "2024-03-01", "A-3", "Nei", "199"],
        ["nozero@example.no", "91234567", "1004", "1.3.2024", "A-4", "", ""],
        ["noplus@example.no", "4791234567", "1005", "31.02.2024", "A-5", "kanskje", "1,234"],
    ]
    return _rows(header, rows, ";").encode("cp1252")


def consents() -> bytes:
    header = ["E-post", "Samtykke", "Samtykke gitt", "Metode", "Tekstversjon", "Formål", "Kanal", "IP"]
    rows = [
        ["ja@example.no", "Ja", "01.03.2024", "skjema", "v3", "newsletter", "e-post", "192.0.2.1"],
        ["nei@example.no", "Nei", "2024-03-02", "kasse", "v3", "offers", "sms", ""],
        ["mangler@example.no", "Ja", "", "skjema", "", "newsletter", "", ""],
    ]
    return _rows(header, rows, ";").encode("utf-8")


def relationships() -> dict[str, bytes]:
    orders = _rows(
        [
            "Kundenummer",
            "E-post",
            "Ordrenummer",
            "Kjøpt",
            "Levert",
            "Kategorier",
            "Beløp",
            "Reservasjon tilbudt",
        ],
        [
            [
                "1001",
                "ola.nordmann@example.no",
                "8812",
                "17.09.2026",
                "16.11.2026",
                "reise, tilbehør",
                "12 990,00",
                "Ja",
            ],
            ["1002", "kari@example.no", "8813", "2026-10-01", "", "sko|klær", "499", "x"],
            ["1003", "per@example.no", "8814", "", "", "", "", ""],
        ],
        ";",
    )
    subscriptions = _rows(
        ["Customer id", "Email", "Subscription id", "Start date", "End date", "Category", "Opt-out offered"],
        [["2001", "sub@example.com", "S-1", "2025-01-01", "", "magazine", "yes"]],
        ",",
    )
    accounts = _rows(
        ["Email", "Account id", "Created", "Closed"],
        [["acct@example.com", "u-17", "2024-05-05T10:00:00Z", "2025-05-05"]],
        ",",
    )
    return {
        "orders_no.csv": orders.encode("cp1252"),
        "subscriptions_en.csv": subscriptions.encode("utf-8"),
        "accounts_en.csv": accounts.encode("utf-8"),
    }


MAILCHIMP_SYSTEM = [
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
]
MAILCHIMP_MERGE = ["Email Address", "First Name", "Last Name", "Phone Number"]


def _system(optin: str, confirm: str, leid: str, euid: str) -> list[str]:
    values = dict.fromkeys(MAILCHIMP_SYSTEM, "")
    values.update(MEMBER_RATING="2", OPTIN_TIME=optin, CONFIRM_TIME=confirm, LEID=leid, EUID=euid)
    values.update(OPTIN_IP="192.0.2.10" if optin else "", CONFIRM_IP="192.0.2.11" if confirm else "")
    values.update(CC="NO", LAST_CHANGED="2024-03-05 09:00:00", TAGS='"VIP","Blog"')
    return [values[name] for name in MAILCHIMP_SYSTEM]


def mailchimp_export() -> bytes:
    subscribed = _rows(
        MAILCHIMP_MERGE + MAILCHIMP_SYSTEM,
        [
            [
                "Sub.One@Example.com",
                "Sub",
                "Én",
                "+4791234567",
                *_system("2013-06-25 17:38:27", "2013-06-25 17:40:01", "101", "a1b2c3d4e5"),
            ],
            [
                "sub.two@example.com",
                "Sub",
                "Two",
                "",
                *_system("2020-01-02 03:04:05", "", "102", "b1b2c3d4e5"),
            ],
            ["imported@example.com", "Imp", "Orted", "", *_system("", "", "103", "c1b2c3d4e5")],
        ],
        ",",
        "\n",
    )
    unsub_extra = [
        "UNSUB_TIME",
        "UNSUB_CAMPAIGN_TITLE",
        "UNSUB_CAMPAIGN_ID",
        "UNSUB_REASON",
        "UNSUB_REASON_OTHER",
    ]
    unsubscribed = _rows(
        MAILCHIMP_MERGE + MAILCHIMP_SYSTEM + unsub_extra,
        [
            [
                "gone@example.com",
                "Gone",
                "Away",
                "not a phone",
                *_system("2019-01-01 00:00:00", "", "201", "d1b2c3d4e5"),
                "2024-02-01 12:00:00",
                "Februar-tilbud",
                "abc123",
                "NORMAL",
                "Too many e-mails",
            ],
            [
                "undated@example.com",
                "No",
                "Date",
                "",
                *_system("", "", "202", "e1b2c3d4e5"),
                "",
                "",
                "",
                "",
                "",
            ],
        ],
        ",",
        "\n",
    )
    clean_extra = ["CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID"]
    cleaned = _rows(
        MAILCHIMP_MERGE + MAILCHIMP_SYSTEM + clean_extra,
        [
            [
                "bounced@example.com",
                "Bo",
                "Unced",
                "",
                *_system("2018-01-01 00:00:00", "", "301", "f1b2c3d4e5"),
                "2024-01-15 08:30:00",
                "Januar",
                "def456",
            ]
        ],
        ",",
        "\n",
    )
    path = FIXTURES / "mailchimp_export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("subscribed_members_export_4f2a9c.csv", subscribed),
            ("unsubscribed_members_export_4f2a9c.csv", unsubscribed),
            ("cleaned_members_export_4f2a9c.csv", cleaned),
        ):
            info = zipfile.ZipInfo(name, date_time=(2024, 3, 5, 9, 0, 0))
            archive.writestr(info, text.encode("utf-8"))
    return path.read_bytes()


def late_bad_byte() -> bytes:
    """ASCII for the first 200 KiB, then one Windows-1252 'ø': detection says UTF-8, reading fails."""
    lines = ["email,first_name\r\n"] + [f"person{i:06d}@example.no,Ola\r\n" for i in range(7000)]
    head = "".join(lines).encode("ascii")
    return head + "sjø@example.no,Bjørn\r\n".encode("cp1252")


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    files = {
        **contacts_files(),
        "quoted_newlines.csv": quoted_newlines(),
        "excel_damage_cp1252.csv": excel_damage(),
        "consents_no.csv": consents(),
        **relationships(),
        "late_bad_byte.csv": late_bad_byte(),
    }
    for name, content in files.items():
        (FIXTURES / name).write_bytes(content)
    mailchimp_export()


if __name__ == "__main__":
    main()
