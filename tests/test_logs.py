"""Logs never carry a raw e-mail address or phone number."""

import json
import logging

import pytest
import structlog

from connector.logs import configure_logging, fingerprint, redact_text
from connector.settings import LoggingSettings


def test_addresses_and_numbers_become_stable_fingerprints() -> None:
    text = redact_text("sent to Kari.Nordmann@example.no and +47 912 34 567")
    assert "example.no" not in text
    assert "912" not in text
    assert fingerprint("email", "kari.nordmann@example.no") in text


def test_ids_and_timestamps_are_left_alone() -> None:
    line = "run 3f2a9c1e-0b1d-4c2e-9d3f-1a2b3c4d5e6f at 2026-11-23T12:00:00+00:00 took 1234 ms"
    assert redact_text(line) == line


def test_structlog_events_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(level="DEBUG", format="json"))
    structlog.get_logger().info("contact.added", email="ola@example.no", detail={"phone": "91234567"})
    logging.getLogger("sqlalchemy").warning("row for ola@example.no")
    err = capsys.readouterr().err
    assert "ola@example.no" not in err
    assert "91234567" not in err
    event = json.loads(err.splitlines()[0])
    assert event["email"].startswith("email:")
