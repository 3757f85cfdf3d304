"""The notices through the admin API (authenticated), and Transactional's signed webhook."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from connector.api.app import create_app
from connector.core.identity import address_hash
from connector.core.mandrill_signature import mandrill_signature
from connector.core.model import RelationshipKind
from connector.services import notice_sending
from connector.services.context import AppContext, Origin
from connector.services.relationships import RelationshipInput, add_relationship
from connector.store.engine import unit_of_work
from connector.store.tables import SuppressionRow
from tests.api.conftest import READ_TOKEN, WRITE_TOKEN, api_settings, with_sections
from tests.conftest import START
from tests.notices.fakes import FakeTransactional

WRITE = {"Authorization": f"Bearer {WRITE_TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
HOOK_KEY = "hook-auth-key-123"
HOOK_URL = "https://consent.example.no/webhooks/transactional"
NOTICE = {
    "kind": "cancellation",
    "item": "CONCERT-99",
    "subject": "Cancelled: *|ITEM|*",
    "text": "Dear *|FNAME|*, the concert is cancelled.",
    "from_email": "service@example.no",
}


@pytest.fixture
def notice_ctx(ctx: AppContext) -> AppContext:
    settings = with_sections(
        api_settings(ctx.settings),
        transactional={
            "api_key": SecretStr("k"),
            "webhook_key": SecretStr(HOOK_KEY),
            "webhook_url": HOOK_URL,
            "confirm_above": 1,
        },
    )
    notice = replace(ctx, settings=settings)
    for email in ("kari@example.no", "ola@example.no"):
        data = RelationshipInput(
            kind=RelationshipKind.PURCHASE,
            started_at=START - timedelta(days=3),
            service_date=START + timedelta(days=20),
            reference=f"T-{email}",
            item="CONCERT-99",
        )
        add_relationship(notice, email, data, Origin("test", "cli"))
    return notice


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> FakeTransactional:
    fake = FakeTransactional(max_recipients_per_call=10)

    @contextmanager
    def opened(_settings: Any) -> Iterator[tuple[FakeTransactional, None]]:
        yield fake, None

    monkeypatch.setattr(notice_sending, "open_notice_sender", opened)
    return fake


@pytest.fixture
def api(notice_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(notice_ctx)) as client:
        yield client


def test_notice_endpoints_need_tokens_and_writes_need_write_scope(api: TestClient) -> None:
    assert api.post("/admin/notices/n1/plan", json=NOTICE).status_code == 401
    assert api.post("/admin/notices/n1/plan", json=NOTICE, headers=READ).status_code == 403
    assert api.post("/admin/notices/n1/send", json={}, headers=READ).status_code == 403
    assert api.get("/admin/notices/n1").status_code == 401


def test_plan_send_status_through_the_admin_api(api: TestClient, sender: FakeTransactional) -> None:
    planned = api.post("/admin/notices/n1/plan", json=NOTICE, headers=WRITE)
    assert planned.status_code == 200, planned.text
    assert planned.json()["counts"]["recipients"] == 2

    assert api.post("/admin/notices/n1/send", json={}, headers=WRITE).status_code == 409
    sent = api.post("/admin/notices/n1/send", json={"confirm": True}, headers=WRITE)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["kind"]) == ("sent", "cancellation")

    status = api.get("/admin/notices/n1", headers=READ).json()
    assert status["totals"] == {"delivered": 2}
    assert sorted(sender.delivered()) == ["kari@example.no", "ola@example.no"]


def test_a_marketing_kind_is_refused(api: TestClient) -> None:
    answer = api.post("/admin/notices/n2/plan", json={**NOTICE, "kind": "newsletter"}, headers=WRITE)
    assert answer.status_code == 422


def _hook(api: TestClient, events: list[dict[str, Any]], *, key: str = HOOK_KEY) -> Any:
    params = {"mandrill_events": json.dumps(events)}
    signature = mandrill_signature(key, HOOK_URL, params)
    return api.post(
        "/webhooks/transactional",
        content=urlencode(params),
        headers={"X-Mandrill-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )


def test_url_check_answers_200(api: TestClient) -> None:
    assert api.head("/webhooks/transactional").status_code == 200
    assert api.get("/webhooks/transactional").status_code == 200


def test_a_wrong_signature_is_refused_and_nothing_stored(api: TestClient, notice_ctx: AppContext) -> None:
    bounce = {"event": "hard_bounce", "msg": {"email": "kari@example.no", "_id": "m1"}}
    assert _hook(api, [bounce], key="wrong").status_code == 401
    with unit_of_work(notice_ctx.engine) as session:
        assert session.execute(select(SuppressionRow)).first() is None


def test_hard_bounce_and_spam_become_suppressions_once_and_status_shows_them(
    api: TestClient, notice_ctx: AppContext, sender: FakeTransactional
) -> None:
    api.post("/admin/notices/n1/plan", json=NOTICE, headers=WRITE)
    api.post("/admin/notices/n1/send", json={"confirm": True}, headers=WRITE)
    status = api.get("/admin/notices/n1", headers=READ).json()
    ids = {r["email"]: r["message_id"] for r in status["recipients"]}
    events = [
        {"event": "hard_bounce", "msg": {"email": "kari@example.no", "_id": ids["kari@example.no"]}},
        {"event": "spam", "msg": {"email": "ola@example.no", "_id": ids["ola@example.no"]}},
    ]

    assert _hook(api, events).status_code == 200
    assert _hook(api, events).status_code == 200  # a repeat changes nothing

    with unit_of_work(notice_ctx.engine) as session:
        rows = session.execute(select(SuppressionRow.address_hash, SuppressionRow.reason)).all()
    key = notice_ctx.suppression_key
    assert sorted(rows) == sorted(
        [
            (address_hash("kari@example.no", key), "cleaned"),
            (address_hash("ola@example.no", key), "complained"),
        ]
    )
    totals = api.get("/admin/notices/n1", headers=READ).json()["totals"]
    assert totals == {"bounced": 1, "complained": 1}
    # the next notice leaves both out: no route for a bounced or complaining address
    again = api.post("/admin/notices/n3/plan", json=NOTICE, headers=WRITE).json()
    assert sorted(e["reason"] for e in again["left_out"]) == ["complained", "undeliverable"]
