from datetime import UTC, datetime
from decimal import Decimal

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.model import Channel, ConsentMethod, RelationshipKind
from connector.errors import InputError
from connector.imports.parsing.cells import neutralise_formula, restore_formula
from connector.imports.parsing.rows import (
    CellError,
    FieldName,
    MailchimpStatus,
    ParsedRow,
    RowError,
    RowKind,
    field_for_header,
    interpret,
    mailchimp_file_status,
    map_headers,
    parse_amount,
    parse_bool,
    parse_categories,
    parse_column_map,
    parse_date,
    parse_email,
    parse_phone,
    status_from_file_name,
)
from connector.imports.parsing.values import plain_address

# --- e-mail


def test_email_is_trimmed_and_lower_cased_so_variants_compare_equal() -> None:
    assert parse_email("  Ola.Nordmann@Example.NO ") == parse_email("ola.nordmann@example.no")


@pytest.mark.parametrize(
    "text", ["ola", "ola@", "@example.no", "ola@@example.no", "ola@example", "a b@x.no", "x@y.test"]
)
def test_email_syntax_errors_are_rejected_with_a_reason(text: str) -> None:
    with pytest.raises(CellError, match="not a valid e-mail"):
        parse_email(text)


def test_email_with_norwegian_domain_goes_through_email_validator() -> None:
    assert parse_email("Per@Blåbær.NO") == "per@blåbær.no"


def _validator_answer(text: str) -> str | None:
    try:
        return str(validate_email(text, check_deliverability=False).normalized).lower()
    except EmailNotValidError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_+.-]{1,20}@[A-Za-z0-9.-]{1,20}\.[A-Za-z]{2,6}", fullmatch=True))
def test_email_fast_path_agrees_with_email_validator(text: str) -> None:
    expected = _validator_answer(text)
    if expected is None:
        with pytest.raises(CellError):
            parse_email(text)
    else:
        assert parse_email(text) == expected


_LOCAL_PARTS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_+.-]{1,66}", fullmatch=True),
    st.from_regex(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,12}", fullmatch=True),  # all of atext, and dots
    st.sampled_from(['"ola nordmann"', '"a@b"', '""', "ola..n", ".ola", "ola.", "a" * 64, "a" * 65]),
    st.text(alphabet="aøåæé\u00e9\u212a\u0130ß\u00a0 \t", min_size=1, max_size=8),
)
_LABELS = st.one_of(
    st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
    st.sampled_from(["xn--blbr-pra", "blåbær", "a" * 63, "a" * 64, "-a", "a-", "a--b", "123", "ÅSE"]),
)
_TOP_LEVELS = st.one_of(
    st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True),
    st.sampled_from(
        ["arpa", "invalid", "local", "localhost", "onion", "test", "no.", "a", "c0m", "xn--p1ai", "NO"]
    ),
)


def _domain(labels: list[str], top: str, padding: int) -> str:
    return ".".join([*labels, *["a" * 63] * padding, top])


_ADDRESSES = st.builds(
    lambda local, labels, top, padding, around: f"{around}{local}@{_domain(labels, top, padding)}{around}",
    _LOCAL_PARTS,
    st.lists(_LABELS, min_size=0, max_size=3),
    _TOP_LEVELS,
    st.integers(min_value=0, max_value=4),  # long domains: 254 and 255 characters
    st.sampled_from(["", " ", "\t", "\u00a0"]),
)


@settings(max_examples=1_500, deadline=None)
@given(st.one_of(_ADDRESSES, st.text(max_size=30)))
def test_email_fast_path_is_a_subset_of_email_validator_with_its_answer(text: str) -> None:
    """Whatever the regex fast path accepts, email-validator accepts with the same normalised address;
    and parse_email (fast path, else the library) always answers what the library alone answers."""
    expected = _validator_answer(text.strip())
    plain = plain_address(text)
    if plain is not None:
        assert plain == expected
    if expected is None:
        with pytest.raises(CellError):
            parse_email(text)
    else:
        assert parse_email(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"{'a' * 64}@kunde.no",
        f"a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 57}.no",  # 254 characters
        f"a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 58}.no",  # 255
        "ola@kunde.no.",
        '"ola"@kunde.no',
        "ola@blåbær.no",
        "ola@xn--blbr-pra.no",
        "ola@server.local",
        "ØLA@kunde.no",
        f"{'a' * 65}@kunde.no",
    ],
)
def test_email_fast_path_edge_cases_answer_as_email_validator(text: str) -> None:
    expected = _validator_answer(text)
    assert plain_address(text) in (None, expected)
    if expected is None:
        with pytest.raises(CellError):
            parse_email(text)
    else:
        assert parse_email(text) == expected


# --- phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("91234567", "+4791234567"),
        ("912 34 567", "+4791234567"),
        ("+47 412 34 567", "+4741234567"),
        ("004791234567", "+4791234567"),
        ("4791234567", "+4791234567"),
        ("4791234567.0", "+4791234567"),
        ("4791234567,0", "+4791234567"),
        ("4.791234567E+9", "+4791234567"),
        ("46701234567", "+46701234567"),
    ],
)
def test_phone_numbers_are_repaired_to_e164(text: str, expected: str) -> None:
    assert parse_phone(text, "NO") == expected


def test_scientific_notation_that_lost_digits_is_rejected() -> None:
    with pytest.raises(CellError, match="lost digits"):
        parse_phone("4.79123E+10", "NO")


@pytest.mark.parametrize("text", ["12", "abc", "91234567 ext 3", "+47 123"])
def test_invalid_phone_numbers_are_rejected(text: str) -> None:
    with pytest.raises(CellError):
        parse_phone(text, "NO")


def _phonenumbers_answer(text: str, region: str) -> str | None:
    for candidate in (text, "+" + text):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


@settings(max_examples=400, deadline=None)
@given(st.from_regex(r"[1-9][0-9]{4,10}", fullmatch=True), st.sampled_from(["NO", "SE", "DK", "GB", "US"]))
def test_phone_fast_path_agrees_with_phonenumbers(digits: str, region: str) -> None:
    expected = _phonenumbers_answer(digits, region)
    if expected is None:
        with pytest.raises(CellError):
            parse_phone(digits, region)
    else:
        assert parse_phone(digits, region) == expected


# --- dates, booleans, amounts, categories


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01.03.2024", datetime(2024, 3, 1, tzinfo=UTC)),
        ("1.3.2024", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2013-06-25 17:38:27", datetime(2013, 6, 25, 17, 38, 27, tzinfo=UTC)),
        ("2024-03-01T10:00:00+02:00", datetime(2024, 3, 1, 8, tzinfo=UTC)),
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("45352", datetime(2024, 3, 1, tzinfo=UTC)),
        ("45352.5", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("01.03.2024 14:30", datetime(2024, 3, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_dates_in_every_supported_form(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["3/4/2024", "31.02.2024", "2024", "123", "i går", "2024-13-01"])
def test_unclear_or_impossible_dates_are_rejected(text: str) -> None:
    with pytest.raises(CellError):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ja", True),
        ("nei", False),
        ("Yes", True),
        ("No", False),
        ("TRUE", True),
        ("False", False),
        ("1", True),
        ("0", False),
        ("x", True),
        ("X", True),
        ("1.0", True),
        ("", None),
        ("  ", None),
    ],
)
def test_booleans(text: str, expected: bool | None) -> None:
    assert parse_bool(text) is expected


def test_unknown_boolean_is_rejected() -> None:
    with pytest.raises(CellError, match="yes/no"):
        parse_bool("kanskje")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 234,50", "1234.50"),
        ("1234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("kr 199,-", "199"),
        ("199", "199"),
        ("12\u00a0990,00 kr", "12990.00"),
        ("1 234 567", "1234567"),
    ],
)
def test_amounts(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["1,234", "1.234", "abc", "12,34,56"])
def test_ambiguous_or_bad_amounts_are_rejected(text: str) -> None:
    with pytest.raises(CellError):
        parse_amount(text)


def test_categories_split_trim_and_unquote_mailchimp_tags() -> None:
    assert parse_categories(" Reise, tilbehør |Sko") == {"reise", "tilbehør", "sko"}
    assert parse_categories('"VIP","Blog"') == {"vip", "blog"}


# --- headers and kinds


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-post", FieldName.EMAIL),
        ("Email Address", FieldName.EMAIL),
        ("e-mail", FieldName.EMAIL),
        ("Fornavn", FieldName.FIRST_NAME),
        ("First Name", FieldName.FIRST_NAME),
        ("Mobil", FieldName.PHONE),
        ("Telefon", FieldName.PHONE),
        ("Phone Number", FieldName.PHONE),
        ("Samtykke", FieldName.CONSENT),
        ("Consent", FieldName.CONSENT),
        ("Kundenummer", FieldName.EXTERNAL_ID),
        ("Customer id", FieldName.EXTERNAL_ID),
        ("\ufeffE-POST ", FieldName.EMAIL),
        ("OPTIN_TIME", FieldName.OPTIN_TIME),
        ("Kjøpsdato", FieldName.STARTED_AT),
    ],
)
def test_header_synonyms_in_english_and_norwegian(header: str, field: FieldName) -> None:
    assert field_for_header(header) is field


def test_map_option_overrides_and_ignores_columns() -> None:
    overrides = parse_column_map(["Tlf privat=phone", "Mobil=ignore"])
    header_map = map_headers(["E-post", "Tlf privat", "Mobil"], overrides)
    assert header_map.fields == (FieldName.EMAIL, FieldName.PHONE, None)
    assert header_map.problems == ()


@pytest.mark.parametrize("spec", ["phone", "Mobil=telephone", "=email"])
def test_bad_map_options_are_input_errors(spec: str) -> None:
    with pytest.raises(InputError):
        parse_column_map([spec])


def test_two_columns_for_one_field_is_a_problem_naming_both() -> None:
    header_map = map_headers(["E-post", "Mobil", "Telefon"])
    assert any("'Mobil', 'Telefon'" in problem for problem in header_map.problems)


def test_a_file_without_identifier_column_is_a_problem() -> None:
    assert map_headers(["Fornavn", "Etternavn"]).problems


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        (["E-post", "Fornavn"], RowKind.CONTACTS),
        (["E-post", "Samtykke", "Samtykke gitt", "Metode", "Tekstversjon"], RowKind.CONSENTS),
        (["Kundenummer", "E-post", "Ordrenummer", "Kjøpt"], RowKind.RELATIONSHIPS),
        (["Email Address", "First Name", "MEMBER_RATING", "OPTIN_TIME", "LEID"], RowKind.MAILCHIMP_EXPORT),
    ],
)
def test_kind_is_detected_from_headers(headers: list[str], kind: RowKind) -> None:
    assert map_headers(headers).kind is kind


def test_consent_columns_without_evidence_are_noted() -> None:
    assert map_headers(["E-post", "Samtykke"]).notes


def test_mailchimp_file_status_prefers_the_more_restrictive_signal() -> None:
    unsub_header = map_headers(["Email Address", "OPTIN_TIME", "LEID", "UNSUB_TIME"])
    assert mailchimp_file_status(unsub_header, "subscribed_members.csv") is MailchimpStatus.UNSUBSCRIBED
    plain = map_headers(["Email Address", "OPTIN_TIME", "LEID"])
    assert mailchimp_file_status(plain, "x/cleaned_members_export_1.csv") is MailchimpStatus.CLEANED
    assert mailchimp_file_status(plain, "audience_export.csv") is None
    assert status_from_file_name("unsubscribed_members_export_ab.csv") is MailchimpStatus.UNSUBSCRIBED


# --- interpret


def _interpret(headers: list[str], cells: list[str], source: str | None = "crm") -> ParsedRow | RowError:
    header_map = map_headers(headers)
    return interpret(header_map, cells, 7, header_map.kind, source, file="f.csv")


CONSENT_HEADERS = ["E-post", "Samtykke", "Samtykke gitt", "Metode", "Tekstversjon", "Formål", "Kanal"]


def test_consent_row_with_evidence_carries_a_claim_that_needs_the_source() -> None:
    row = _interpret(
        CONSENT_HEADERS, ["a@example.no", "Ja", "01.03.2024", "skjema", "v3", "newsletter", "sms"]
    )
    assert isinstance(row, ParsedRow)
    assert row.consent is not None
    assert row.consent.purposes == ("newsletter",)
    assert row.consent.channel is Channel.SMS
    assert row.consent.method is ConsentMethod.FORM
    assert row.consent.source_required
    assert row.consent.attested


def test_consent_claim_without_source_is_not_attested() -> None:
    row = _interpret(
        CONSENT_HEADERS, ["a@example.no", "Ja", "01.03.2024", "skjema", "v3", "", ""], source=None
    )
    assert isinstance(row, ParsedRow)
    assert row.consent is not None
    assert not row.consent.attested


def test_consent_without_evidence_columns_updates_contact_only() -> None:
    row = _interpret(["E-post", "Samtykke"], ["a@example.no", "Ja"])
    assert isinstance(row, ParsedRow)
    assert (row.consent, row.withdrawal) == (None, None)


def test_consent_no_with_evidence_is_a_withdrawal_dated_given_at() -> None:
    row = _interpret(CONSENT_HEADERS, ["a@example.no", "Nei", "2024-03-02", "kasse", "v3", "offers", ""])
    assert isinstance(row, ParsedRow)
    assert row.withdrawal is not None
    assert row.withdrawal.at == datetime(2024, 3, 2, tzinfo=UTC)
    assert row.consent is None


def test_bad_cell_is_a_row_error_naming_the_file_column() -> None:
    row = _interpret(["E-post", "Mobil"], ["a@example.no", "4.79123E+10"])
    assert row == RowError("f.csv", 7, "Mobil", row.reason if isinstance(row, RowError) else "")
    assert isinstance(row, RowError)
    assert "lost digits" in row.reason
    assert row.where == "f.csv:7:Mobil"


def test_wrong_column_count_is_a_row_error_but_trailing_empty_cells_are_not() -> None:
    assert isinstance(_interpret(["E-post", "Fornavn"], ["a@example.no"]), RowError)
    assert isinstance(_interpret(["E-post", "Fornavn"], ["a@example.no", "A", "B"]), RowError)
    assert isinstance(_interpret(["E-post", "Fornavn"], ["a@example.no", "A", "", ""]), ParsedRow)


def test_row_without_any_identifier_is_a_row_error() -> None:
    assert isinstance(_interpret(["E-post", "Fornavn"], ["", "Ola"]), RowError)


def test_order_row_becomes_a_purchase_relationship() -> None:
    row = _interpret(
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
        ["1001.0", "a@example.no", "8812", "17.09.2026", "16.11.2026", "reise", "12 990,00", "x"],
    )
    assert isinstance(row, ParsedRow)
    assert row.relationship is not None
    assert row.contact.external_id == "1001"
    assert row.relationship.kind is RelationshipKind.PURCHASE
    assert row.relationship.service_date == datetime(2026, 11, 16, tzinfo=UTC)
    assert row.relationship.amount == Decimal("12990.00")
    assert row.relationship.opt_out_offered


MAILCHIMP = [
    "Email Address",
    "Phone Number",
    "OPTIN_TIME",
    "CONFIRM_TIME",
    "LEID",
    "UNSUB_TIME",
    "CLEAN_TIME",
]


def _mailchimp(cells: list[str], status: MailchimpStatus | None) -> ParsedRow | RowError:
    header_map = map_headers(MAILCHIMP)
    return interpret(header_map, cells, 2, RowKind.MAILCHIMP_EXPORT, None, mailchimp_status=status)


def test_mailchimp_subscribed_row_with_confirm_time_is_confirmed_consent() -> None:
    row = _mailchimp(["A@x.com", "", "2013-06-25 17:38:27", "2013-06-25 17:40:01", "1", "", ""], None)
    assert isinstance(row, ParsedRow)
    assert row.consent is not None
    assert row.consent.method is ConsentMethod.MAILCHIMP
    assert row.consent.confirmed_at == datetime(2013, 6, 25, 17, 40, 1, tzinfo=UTC)
    assert row.consent.attested


def test_mailchimp_unsubscribed_row_is_never_dropped_for_a_bad_side_column() -> None:
    cells = ["a@x.com", "garbage", "", "", "1", "not a date", ""]
    row = _mailchimp(cells, MailchimpStatus.UNSUBSCRIBED)
    assert isinstance(row, ParsedRow)
    assert row.withdrawal is not None
    assert row.withdrawal.at is None
    assert row.consent is None
    assert len(row.notes) == 2


def test_mailchimp_cleaned_row_is_undeliverable() -> None:
    row = _mailchimp(["a@x.com", "", "", "", "1", "", "2024-01-15 08:30:00"], None)
    assert isinstance(row, ParsedRow)
    assert row.undeliverable is not None
    assert row.consent is None


# --- formula-safe cells


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+47", "'+47"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("ola", "ola"),
        ("'=x", "''=x"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(cell: str, safe: str) -> None:
    assert neutralise_formula(cell) == safe


@given(st.text())
def test_neutralise_formula_round_trips(cell: str) -> None:
    assert restore_formula(neutralise_formula(cell)) == cell
    assert neutralise_formula(cell)[:1] not in {"=", "+", "-", "@", "\t", "\r"}
