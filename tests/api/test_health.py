"""Liveness, readiness and metrics."""

from fastapi.testclient import TestClient
from sqlalchemy import text

from connector.services.context import AppContext
from tests.api.conftest import FORM, HOOK, unsubscribe
from tests.conftest import START


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {
        "database": "ok",
        "migrations": "at_head",
        "configuration": "pending",  # the first probe starts the doctor's check in the background
        "failing": [],
    }
    client.app.state.doctor.join()  # type: ignore[attr-defined]
    answer = client.get("/readyz")
    assert answer.status_code == 200  # a Mailchimp problem does not stop webhook intake
    assert answer.json()["configuration"] == "failing"
    assert answer.json()["failing"] == [
        "[fail] mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY or run `consent-sync demo`"
    ]


def test_readyz_is_503_when_migrations_are_behind(client: TestClient, api_ctx: AppContext) -> None:
    with api_ctx.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["migrations"] == "behind"


def test_metrics_count_webhooks(client: TestClient) -> None:
    client.post(HOOK, content=unsubscribe("per@firma.no", START), headers=FORM)
    client.post(HOOK, content=unsubscribe("per@firma.no", START), headers=FORM)
    client.get("/webhooks/mailchimp/wrong")
    body = client.get("/metrics").text
    assert 'consent_sync_webhooks_received_total{outcome="applied",type="unsubscribe"} 1.0' in body
    assert 'consent_sync_webhooks_received_total{outcome="duplicate",type="unsubscribe"} 1.0' in body
    assert 'consent_sync_webhooks_rejected_total{reason="secret"} 1.0' in body
    assert "consent_sync_sync_runs" in body


def test_metrics_include_mailchimp_calls_and_throttles(client: TestClient) -> None:
    body = client.get("/metrics").text
    for family in ("calls", "retries", "throttles", "failures"):
        assert f"# TYPE consent_sync_mailchimp_{family}_total counter" in body


def test_metrics_show_the_size_of_each_committed_webhook_batch(client: TestClient) -> None:
    client.post(HOOK, content=unsubscribe("per@firma.no", START), headers=FORM)
    client.post(HOOK, content=unsubscribe("kari@firma.no", START), headers=FORM)
    body = client.get("/metrics").text
    assert "consent_sync_webhook_batch_size_count 2.0" in body
    assert "consent_sync_webhook_batch_size_sum 2.0" in body
    assert "consent_sync_webhook_batch_fallbacks_total 0.0" in body
