"""A representative run of the HTTP service with logging at DEBUG writes no e-mail address anywhere."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from fastapi.testclient import TestClient

from connector.logs import EMAIL_PATTERN, configure_logging
from connector.settings import LoggingSettings
from tests.api.conftest import FORM, HOOK, LIST_ID, event_body, subscribe, unsubscribe
from tests.api.test_admin import CONSENT, READ, RELATIONSHIP, WRITE
from tests.conftest import START

EMAIL = "ola.hansen@firma.no"


@pytest.fixture
def debug_logging() -> Iterator[None]:
    configure_logging(LoggingSettings(level="DEBUG", format="json"))
    yield
    configure_logging(LoggingSettings())
    structlog.reset_defaults()


def test_debug_logs_of_a_representative_flow_hold_no_address(
    debug_logging: None, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.post("/admin/consents", json=CONSENT, headers=WRITE)
    client.post("/admin/relationships", json=RELATIONSHIP, headers=WRITE)
    client.post(
        "/consents",
        json={"email": EMAIL, "purposes": ["newsletter"], "notice_version": "n", "checkbox": "on"},
    )
    client.post(
        "/consents", json={"email": "bad@@firma.no", "purposes": ["newsletter"], "notice_version": "n"}
    )
    for body in (
        unsubscribe(EMAIL, START),
        unsubscribe(EMAIL, START),
        subscribe(EMAIL, START - timedelta(hours=1)),
        unsubscribe(EMAIL, START, reason="abuse"),
        event_body("profile", START, list_id=LIST_ID, email=EMAIL, merges__FNAME="Ola", merges__PHONE="x"),
        event_body("upemail", START, list_id=LIST_ID, new_email="ola.ny@firma.no", old_email=EMAIL),
        event_body("cleaned", START, list_id=LIST_ID, email="ola.ny@firma.no", reason="hard"),
        b"type=bogus&fired_at=x&data[email]=leak%40firma.no",
    ):
        client.post(HOOK, content=body, headers=FORM)
    client.post("/webhooks/mailchimp/wrong", content=unsubscribe(EMAIL, START), headers=FORM)
    client.get("/admin/contacts/ola.ny@firma.no/explain", headers=READ)
    client.get("/admin/subjects/ola.ny@firma.no/export", headers=READ)
    client.post("/admin/subjects/ola.ny@firma.no/erase", headers=WRITE)
    client.post("/admin/sync", json={"audience": "main", "contact": EMAIL}, headers=WRITE)
    client.app.state.run_worker.shutdown()  # type: ignore[attr-defined]
    captured = capsys.readouterr()
    logs = captured.err + captured.out
    assert "webhook." in logs
    assert "admin.called" in logs
    assert EMAIL_PATTERN.findall(logs) == []
