"""End to end over real HTTP: the sandbox delivers webhooks to a ``consent-sync serve`` subprocess.

A person unsubscribes in the sandbox → webhook → store → the next sync removes the marketing tags while
``cs:transactional`` stays; and ``serve`` killed with SIGKILL during ~1,000 deliveries loses nothing and
applies each event exactly once once Mailchimp's retries have arrived.
"""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import WebhookEvent, WebhookSource
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin, system_clock
from connector.services.relationships import RelationshipInput, add_relationship
from connector.store.engine import unit_of_work
from connector.store.http_tables import WebhookInboxRow
from connector.store.sync_tables import AudienceStateRow
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.connect import open_gateway
from connector.sync.run import sync_audience
from tests.api.conftest import SECRET, with_sections
from tests.api.serving import ServeProcess, serving

ORIGIN = Origin("test", "test")
SUPPRESSION_KEY = "test-suppression-key"


@dataclass
class World:
    ctx: AppContext
    sandbox: SandboxHandle
    gateway: MailchimpGateway

    def serve_env(self) -> dict[str, str]:
        return {
            "CONSENT_SYNC_DATABASE__URL": self.ctx.settings.database.url,
            "CONSENT_SYNC_WEBHOOKS__SECRET": SECRET,
            "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": SUPPRESSION_KEY,
            "CONSENT_SYNC_MAILCHIMP__BASE_URL": self.sandbox.base_url,
            "CONSENT_SYNC_LOGGING__LEVEL": "WARNING",
        }

    def list_id(self) -> str:
        with unit_of_work(self.ctx.engine) as session:
            state = session.get(AudienceStateRow, "main")
        assert state is not None
        assert state.list_id is not None
        return state.list_id

    def register(self, server: ServeProcess) -> None:
        url = f"{server.url}/webhooks/mailchimp/{SECRET}"
        self.gateway.create_webhook(
            self.list_id(), url, tuple(WebhookEvent), (WebhookSource.USER, WebhookSource.ADMIN)
        )

    def unsubscribe(self, email: str) -> None:
        path = f"/_sandbox/lists/{self.list_id()}/members/{subscriber_hash(email)}/unsubscribe"
        answer = requests.post(self.sandbox.root_url + path, json={"campaign_id": "camp42"}, timeout=10)
        assert answer.status_code == 200, answer.text


def _world(ctx: AppContext, knobs: SandboxKnobs) -> Iterator[World]:
    with running_sandbox(knobs) as sandbox:
        settings = with_sections(ctx.settings, mailchimp={"base_url": sandbox.base_url})
        real = replace(ctx, settings=settings, clock=system_clock, suppression_key=SUPPRESSION_KEY.encode())
        with open_gateway(settings.mailchimp) as gateway:
            yield World(real, sandbox, gateway)


@pytest.fixture
def world(ctx: AppContext) -> Iterator[World]:
    yield from _world(ctx, SandboxKnobs(webhook_time_scale=0.001))


def _customer_with_newsletter(ctx: AppContext, email: str) -> None:
    now = ctx.now()
    evidence = Evidence(
        occurred_at=now - timedelta(days=2),
        method=ConsentMethod.FORM,
        notice_version="n1",
        recorded_by=Actor.PERSON,
    )
    for action in (ConsentAction.GIVEN, ConsentAction.CONFIRMED):
        record_consent(ctx, email, ["newsletter"], Channel.EMAIL, action, evidence, ORIGIN)
    purchase = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=now - timedelta(days=1),
        reference="TRIP-7",
        service_date=now + timedelta(days=30),
        opt_out_offered=True,
    )
    add_relationship(ctx, email, purchase, ORIGIN)


def test_unsubscribe_in_mailchimp_leaves_marketing_but_not_transactional(world: World) -> None:
    email = "e2e.person@firma.no"
    _customer_with_newsletter(world.ctx, email)
    sync_audience(world.ctx, world.gateway, "main")
    tags = world.gateway.member_tags(world.list_id(), subscriber_hash(email))
    assert {"cs:newsletter", "cs:transactional"} <= tags
    with serving(world.serve_env()) as server:
        world.register(server)
        world.unsubscribe(email)
        assert world.sandbox.wait_for_webhooks(timeout_s=20)
    sync_audience(world.ctx, world.gateway, "main")
    tags = world.gateway.member_tags(world.list_id(), subscriber_hash(email))
    assert "cs:newsletter" not in tags
    assert "cs:transactional" in tags


def _many_subscribers(ctx: AppContext, count: int) -> list[str]:
    now = ctx.now()
    emails = [f"person{n:04d}@firma.no" for n in range(count)]
    contacts = [
        ContactRow(
            id=str(uuid.uuid4()), email=e, jurisdiction="NO", created_at=now, updated_at=now, changed_at=now
        )
        for e in emails
    ]
    with unit_of_work(ctx.engine) as session:
        session.add_all(contacts)
        session.flush()
        for contact in contacts:
            for action in ("given", "confirmed"):
                session.add(
                    ConsentEventRow(
                        id=str(uuid.uuid4()),
                        contact_id=contact.id,
                        purpose="newsletter",
                        channel="email",
                        action=action,
                        occurred_at=now - timedelta(days=2),
                        recorded_at=now,
                        method="form",
                        source="test",
                        notice_version="n1",
                        active_act=True,
                        recorded_by="person",
                    )
                )
    return emails


def _count(ctx: AppContext, query: object) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(query).scalar_one())  # type: ignore[call-overload]


def test_kill_9_during_webhook_delivery_loses_nothing_and_applies_once(ctx: AppContext) -> None:
    count = 1000
    for world in _world(ctx, SandboxKnobs(webhook_time_scale=0.004)):
        emails = _many_subscribers(world.ctx, count)
        sync_audience(world.ctx, world.gateway, "main")
        server = ServeProcess(world.serve_env())
        server.start()
        try:
            world.register(server)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(world.unsubscribe, emails))
            _wait_for_deliveries(world, count // 3)
            server.kill()
            server.start()
            assert world.sandbox.wait_for_webhooks(timeout_s=60)
        finally:
            server.stop()
        records = world.sandbox.runtime.webhooks.records()
        assert any(not r["delivered"] for r in records), "the kill interrupted no delivery"
        undelivered = {r["event_type"] for r in records if not r["delivered"] and r["attempt"] >= 7}
        assert not undelivered
        withdrawn = (
            select(func.count())
            .select_from(ConsentEventRow)
            .where(col(ConsentEventRow.action) == "withdrawn")
        )
        per_contact = (
            select(func.count())
            .select_from(ConsentEventRow)
            .where(col(ConsentEventRow.action) == "withdrawn")
            .group_by(col(ConsentEventRow.contact_id))
            .having(func.count() != 3)
        )
        assert _count(world.ctx, select(func.count()).select_from(WebhookInboxRow)) == count
        assert _count(world.ctx, withdrawn) == 3 * count  # the audience's three purposes, each exactly once
        assert _count(world.ctx, select(func.count()).select_from(per_contact.subquery())) == 0


def _wait_for_deliveries(world: World, at_least: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while len(world.sandbox.runtime.webhooks.records()) < at_least:
        assert time.monotonic() < deadline, "deliveries did not start"
        time.sleep(0.01)


def _wait(check: object, timeout_s: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sign_up_gets_one_mailchimp_confirmation_and_the_webhook_confirms_it(world: World) -> None:
    email = "new.signup@firma.no"
    _customer_with_newsletter(world.ctx, "someone.else@firma.no")
    sync_audience(world.ctx, world.gateway, "main")  # creates the audience in the sandbox
    with serving(world.serve_env()) as server:
        world.register(server)
        sign_up = {"email": email, "purposes": ["newsletter"], "notice_version": "web-1", "checkbox": "on"}
        assert requests.post(f"{server.url}/consents", json=sign_up, timeout=10).status_code == 201
        sent = f"{world.sandbox.root_url}/_sandbox/confirmations"
        _wait(lambda: requests.get(sent, timeout=5).json()["total_items"] == 1)
        confirm = f"/_sandbox/lists/{world.list_id()}/members/{subscriber_hash(email)}/confirm"
        assert requests.post(world.sandbox.root_url + confirm, json={}, timeout=10).status_code == 200
        assert world.sandbox.wait_for_webhooks(timeout_s=20)
    assert requests.get(sent, timeout=5).json()["total_items"] == 1
    query = (
        select(func.count()).select_from(ConsentEventRow).where(col(ConsentEventRow.action) == "confirmed")
    )
    contact = select(ContactRow.id).where(col(ContactRow.email) == email).scalar_subquery()  # type: ignore[call-overload]
    assert _count(world.ctx, query.where(col(ConsentEventRow.contact_id) == contact)) == 1


def test_admin_sync_runs_in_the_background_against_mailchimp(world: World) -> None:
    from fastapi.testclient import TestClient

    from connector.api.app import create_app
    from tests.api.conftest import READ_TOKEN, WRITE_TOKEN, api_settings

    _customer_with_newsletter(world.ctx, "admin.sync@firma.no")
    settings = api_settings(world.ctx.settings)
    audience = settings.audiences[0].model_copy(update={"list_id": None})
    ctx = replace(world.ctx, settings=settings.model_copy(update={"audiences": (audience,)}))
    with TestClient(create_app(ctx)) as client:
        answer = client.post(
            "/admin/sync", json={"audience": "main"}, headers={"Authorization": f"Bearer {WRITE_TOKEN}"}
        )
        run_id = answer.json()["run_id"]
        read = {"Authorization": f"Bearer {READ_TOKEN}"}
        _wait(
            lambda: client.get(f"/admin/runs/{run_id}", headers=read).json()["request"]["status"] != "queued"
            and client.get(f"/admin/runs/{run_id}", headers=read).json()["request"]["status"] != "running"
        )
        run = client.get(f"/admin/runs/{run_id}", headers=read).json()
    assert run["request"]["status"] == "done", run
    assert run["sync_run"]["status"] == "done"
    assert run["progress"]["total"] == run["progress"].get("done", 0) > 0
