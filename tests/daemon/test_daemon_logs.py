"""Scheduler log lines keep their dates; phone numbers and addresses are still fingerprinted."""

from connector.logs import redact_text


def test_a_date_before_a_time_is_not_mistaken_for_a_phone_number() -> None:
    line = "Run time of job (next run at: 2026-11-23 11:52:42 UTC)"
    assert redact_text(line) == line


def test_a_phone_number_beside_a_date_is_still_fingerprinted() -> None:
    redacted = redact_text("2026-11-23: called +47 912 34 567 and kari@example.no")
    assert redacted.startswith("2026-11-23: called phone:")
    assert "912 34 567" not in redacted
    assert "kari@example.no" not in redacted
