"""Pure parts of the planner: the keyed hash, merging rows of one person."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from connector.core.identity import address_hash
from connector.imports.merge import Draft, contact_key, row_date
from connector.imports.parsing.rows import ContactRow, ParsedRow, WithdrawalClaim
from connector.imports.planner import KeyedHasher


@given(secret=st.binary(min_size=1, max_size=100), email=st.emails())
def test_keyed_hasher_equals_the_suppression_hash(secret: bytes, email: str) -> None:
    normalised = email.strip().lower()
    assert KeyedHasher(secret)(normalised) == address_hash(normalised, secret)


def _row(line: int, first: str | None, withdrawn_at: datetime | None = None) -> ParsedRow:
    contact = ContactRow("ola@example.no", None, first, None, None, None)
    withdrawal = WithdrawalClaim(withdrawn_at) if withdrawn_at else None
    return ParsedRow("f.csv", line, contact, withdrawal=withdrawal)


def test_a_later_undated_row_replaces_and_an_older_dated_row_only_fills() -> None:
    draft = Draft("ola@example.no", "ola@example.no", None, ())
    draft.add(_row(2, "Ola", datetime(2026, 5, 1, tzinfo=UTC)), False)
    draft.add(_row(3, "Gammel", datetime(2020, 1, 1, tzinfo=UTC)), False)
    assert draft.values[1] == "Ola"
    draft.add(_row(4, "Ny"), False)
    assert draft.values[1] == "Ny"
    assert [w.line for w in draft.lines] == [2, 3, 4]
    assert draft.merged


def test_rows_without_address_are_keyed_by_customer_id_then_phone() -> None:
    assert contact_key(ContactRow(None, "+4791234567", None, None, "K1", None)) == "ext:K1"
    assert contact_key(ContactRow(None, "+4791234567", None, None, None, None)) == "tel:+4791234567"
    assert contact_key(ContactRow(None, None, "Ola", None, None, None)) is None


def test_row_date_is_the_newest_date_of_the_row() -> None:
    assert row_date(_row(2, "Ola")) is None
    assert row_date(_row(2, "Ola", datetime(2026, 5, 1, tzinfo=UTC))) == datetime(2026, 5, 1, tzinfo=UTC)
