"""The admin API: every endpoint refuses no token, a wrong token and (for writes) a read-only token;
the happy paths reuse the services; every call is audited without personal data."""

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from connector.api.admin_runs import left_behind, run_queued
from connector.api.app import create_app
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminAuditRow, AdminRunRow
from connector.sync.lock import audience_lock
from tests.api.conftest import READ_TOKEN, WRITE_TOKEN
from tests.conftest import START

EMAIL = "ola.hansen@firma.no"
WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
CONSENT = {
    "email": EMAIL,
    "purposes": ["newsletter"],
    "action": "given",
    "method": "form",
    "notice_version": "n1",
    "occurred_at": (START - timedelta(days=1)).isoformat(),
}
RELATIONSHIP = {
    "email": EMAIL,
    "kind": "purchase",
    "started_at": (START - timedelta(days=3)).isoformat(),
    "reference": "TRIP-1",
    "service_date": (START + timedelta(days=20)).isoformat(),
    "opt_out_offered": True,
}
READS = [
    ("GET", "/admin/runs", None),
    ("GET", "/admin/runs/some-id", None),
    ("GET", f"/admin/contacts/{EMAIL}/explain", None),
    ("GET", f"/admin/subjects/{EMAIL}/export", None),
]
WRITES = [
    ("POST", "/admin/sync", {"audience": "main"}),
    ("POST", "/admin/consents", CONSENT),
    ("POST", "/admin/relationships", RELATIONSHIP),
    ("POST", "/admin/objections", {"email": EMAIL}),
    ("POST", f"/admin/subjects/{EMAIL}/erase", None),
]


def test_every_endpoint_refuses_missing_and_wrong_tokens(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer not-a-token"}
    for method, path, body in READS + WRITES:
        assert client.request(method, path, json=body).status_code == 401, path
        assert client.request(method, path, json=body, headers=wrong).status_code == 401, path


def test_read_only_token_cannot_write(client: TestClient) -> None:
    for method, path, body in WRITES:
        assert client.request(method, path, json=body, headers=READ).status_code == 403, path


def test_consent_relationship_objection_explain_export_erase(client: TestClient, api_ctx: AppContext) -> None:
    assert client.post("/admin/consents", json=CONSENT, headers=WRITE).status_code == 201
    confirmed = {**CONSENT, "action": "confirmed"}
    assert client.post("/admin/consents", json=confirmed, headers=WRITE).status_code == 201
    assert client.post("/admin/relationships", json=RELATIONSHIP, headers=WRITE).status_code == 201
    explained = client.get(f"/admin/contacts/{EMAIL}/explain", headers=READ).json()
    newsletter = next(m for m in explained["marketing"] if m["purpose"] == "newsletter")
    assert newsletter["allowed"] is True
    objection = {"email": EMAIL, "reason": "phoned in"}
    assert client.post("/admin/objections", json=objection, headers=WRITE).status_code == 201
    explained = client.get(f"/admin/contacts/{EMAIL}/explain", headers=READ).json()
    assert not any(m["allowed"] for m in explained["marketing"])
    exported = client.get(f"/admin/subjects/{EMAIL}/export", headers=READ).json()
    assert len(exported["consent_events"]) == 2
    assert len(exported["objections"]) == 1
    assert client.post(f"/admin/subjects/{EMAIL}/erase", headers=WRITE).status_code == 200
    assert client.get(f"/admin/subjects/{EMAIL}/export", headers=READ).status_code == 404
    with unit_of_work(api_ctx.engine) as session:
        audit = list(session.execute(select(AdminAuditRow)).scalars())
    assert {row.actor for row in audit} == {"ops", "viewer"}
    assert all("@" not in row.route for row in audit)


def test_bad_input_names_the_field(client: TestClient) -> None:
    answer = client.post("/admin/consents", json={**CONSENT, "purposes": ["nope"]}, headers=WRITE)
    assert answer.status_code == 422
    assert answer.json()["field"] == "--purpose"
    assert client.get("/admin/contacts/nobody@firma.no/explain", headers=READ).status_code == 404


def test_refused_calls_are_audited_too(client: TestClient, api_ctx: AppContext) -> None:
    client.get("/admin/runs")
    client.post("/admin/objections", json={"email": EMAIL}, headers=READ)
    with unit_of_work(api_ctx.engine) as session:
        rows = [(r.actor, r.status) for r in session.execute(select(AdminAuditRow)).scalars()]
    assert sorted(rows) == [("anonymous", 401), ("viewer", 403)]


def test_sync_request_is_queued_and_reported(client: TestClient, api_ctx: AppContext) -> None:
    """Without a Mailchimp configured the background run fails cleanly; the request returns at once."""
    answer = client.post("/admin/sync", json={"audience": "main"}, headers=WRITE)
    assert answer.status_code == 202
    run_id = answer.json()["run_id"]
    run = _finished_run(client, run_id)
    assert run["request"]["status"] == "failed"
    assert "mailchimp.api_key" in run["request"]["error"]
    listed = client.get("/admin/runs", headers=READ).json()
    assert [r["id"] for r in listed["requests"]] == [run_id]
    with unit_of_work(api_ctx.engine) as session:
        assert session.get(AdminRunRow, run_id) is not None


def _finished_run(client: TestClient, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The run's document once the worker has finished it. (Shutting the worker down instead would
    cancel a run still queued behind the start-up take-up, as a stopping service does by design.)"""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/admin/runs/{run_id}", headers=READ).json()
        if run["request"]["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_requests_left_behind_by_a_dead_service_are_taken_up_at_start(api_ctx: AppContext) -> None:
    """A 202 is never dropped: queued requests, and running ones whose lock is free, run on the next start."""
    with unit_of_work(api_ctx.engine) as session:
        for run_id, status, minutes in (
            ("queued-1", "queued", 2),
            ("orphan-1", "running", 1),
            ("done-1", "done", 3),
        ):
            session.add(
                AdminRunRow(
                    id=run_id,
                    audience="main",
                    actor="ops",
                    status=status,
                    requested_at=START - timedelta(minutes=minutes),
                )
            )
    with TestClient(create_app(api_ctx)) as client:
        client.app.state.run_worker.shutdown()  # type: ignore[attr-defined]
    with unit_of_work(api_ctx.engine) as session:
        statuses = {r.id: (r.status, r.error) for r in session.execute(select(AdminRunRow)).scalars()}
    assert statuses["done-1"] == ("done", None)
    for run_id in ("queued-1", "orphan-1"):  # both ran (and failed cleanly: no Mailchimp configured)
        status, error = statuses[run_id]
        assert status == "failed"
        assert error is not None
        assert "mailchimp.api_key" in error


def test_a_running_request_whose_lock_is_held_is_left_to_its_process(api_ctx: AppContext) -> None:
    with unit_of_work(api_ctx.engine) as session:
        session.add(
            AdminRunRow(id="live-1", audience="main", actor="ops", status="running", requested_at=START)
        )
    with audience_lock(api_ctx, "main"):
        assert left_behind(api_ctx) == []
    with unit_of_work(api_ctx.engine) as session:
        row = session.get(AdminRunRow, "live-1")
        assert row is not None
        assert row.status == "running"
    assert left_behind(api_ctx) == ["live-1"]


def test_a_request_is_run_only_by_the_process_that_claims_it(api_ctx: AppContext) -> None:
    with unit_of_work(api_ctx.engine) as session:
        session.add(
            AdminRunRow(id="once-1", audience="main", actor="ops", status="running", requested_at=START)
        )
    run_queued(api_ctx, "once-1")  # another process claimed it: nothing happens
    with unit_of_work(api_ctx.engine) as session:
        row = session.get(AdminRunRow, "once-1")
        assert row is not None
        assert (row.status, row.finished_at) == ("running", None)
