"""Logs never carry a raw e-mail address or phone number."""

import json
import logging
import subprocess
import sys

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


def test_structlog_imported_after_configuring_is_configured_and_redacts() -> None:
    """A command configures logging before anything imports structlog (it is loaded only when used):
    structlog is configured when it is first imported, and stdlib records are redacted from the first."""
    probe = (
        "import logging, sys\n"
        "from connector.logs import configure_logging\n"
        "from connector.settings import LoggingSettings\n"
        "configure_logging(LoggingSettings(level='INFO', format='json'))\n"
        "assert 'structlog' not in sys.modules\n"
        "import structlog\n"
        "structlog.get_logger().info('contact.added', email='ola@example.no')\n"
        "structlog.get_logger().debug('hidden')\n"
        "logging.getLogger('x').warning('row for ola@example.no')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "ola@example.no" not in done.stderr + done.stdout
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in events] == [
        "contact.added",
        f"row for {fingerprint('email', 'ola@example.no')}",
    ]
    assert events[0]["email"] == fingerprint("email", "ola@example.no")
