"""Notices end to end over real HTTP: the store, the sandbox's Marketing API (sync, reconcile, journey
trigger) and its Transactional API (send, outbox, bounces, signed webhooks), issue 15 items 4-6."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from pydantic import SecretStr

from connector.api.app import create_app
from connector.core.model import RelationshipKind
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.core.notices import LeftOutReason, Route
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.transactional import TransactionalGateway
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.services.notice_sending import open_notice_sender, send_notice
from connector.services.notices import notice_status, plan_notice_now, record_notice
from connector.services.relationships import RelationshipInput, add_relationship
from connector.store.engine import unit_of_work
from connector.store.tables import SuppressionRow
from connector.sync.audience import SAVED_PREFIX
from connector.sync.connect import open_gateway
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import sync_audience
from connector.threaded_server import start_threaded
from tests.sync.support import (
    ORIGIN,
    audience_state,
    list_id,
    remote_tags,
    saved_segment_emails,
    subscribe,
    with_sandbox,
)

ROOT = Path(__file__).parents[2]
NOTICE = "concert-99-off"
pytestmark = pytest.mark.slow


def _spec(notice_id: str = NOTICE) -> NoticeSpec:
    return NoticeSpec(
        id=notice_id,
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item="CONCERT-99"),
        template=NoticeTemplate(subject="Cancelled: *|ITEM|*", text="Dear *|FNAME|*, *|ITEM|* is cancelled."),
        from_email="tickets@example.no",
    )


def _holder(ctx: AppContext, email: str) -> None:
    data = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=ctx.now() - timedelta(days=10),
        service_date=ctx.now() + timedelta(days=20),
        reference=f"T-{email}",
        item="CONCERT-99",
    )
    add_relationship(ctx, email, data, ORIGIN)


def _plan(ctx: AppContext, notice_id: str = NOTICE) -> Any:
    spec = _spec(notice_id)
    plan = plan_notice_now(ctx, spec, ctx.now())
    record_notice(ctx, spec, plan, ORIGIN)
    return plan


def _with_transactional(ctx: AppContext, sandbox: SandboxHandle, **transactional: Any) -> AppContext:
    values = {
        "api_key": SecretStr(sandbox.transactional_key),
        "base_url": sandbox.transactional_base_url,
        "from_email": "tickets@example.no",
        "confirm_above": 100_000,
        **transactional,
    }
    settings = with_sandbox(ctx, sandbox).settings
    settings = settings.model_copy(
        update={
            "transactional": settings.transactional.model_copy(update=values),
            "mailchimp": settings.mailchimp.model_copy(
                update={"max_attempts": 12, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05}
            ),
        }
    )
    return replace(ctx, settings=settings)


def _outbox(sandbox: SandboxHandle, **query: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox.root_url}/sandbox/transactional/outbox", params=query, timeout=10)
    return list(answer.json()["messages"])


def _person(sandbox: SandboxHandle, audience: str, email: str, action: str) -> None:
    url = f"{sandbox.root_url}/_sandbox/lists/{audience}/members/{email}/{action}"
    assert requests.post(url, json={}, timeout=5).status_code == 200


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(seed=3)) as handle:
        yield handle


def test_an_unsubscribed_customer_gets_the_cancellation_a_cleaned_one_is_reported(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    local = _with_transactional(ctx, sandbox)
    for email in ("kari@example.no", "ola@example.no", "per@example.no"):
        subscribe(local, email)
        _holder(local, email)
    with open_gateway(local.settings.mailchimp) as gateway:
        sync_audience(local, gateway, "main")
        audience = list_id(local)
        _person(sandbox, audience, "kari@example.no", "unsubscribe")
        _person(sandbox, audience, "per@example.no", "bounce")
        reconcile_audience(local, gateway, "main", accept_inbound=True)

        plan = _plan(local)
        assert {r.email: r.route for r in plan.recipients} == {
            "kari@example.no": Route.TRANSACTIONAL,
            "ola@example.no": Route.TRANSACTIONAL,
        }
        (per,) = plan.left_out
        assert per.reason is LeftOutReason.UNDELIVERABLE
        with open_notice_sender(local.settings) as (sender, journey):
            report = send_notice(local, NOTICE, sender, journey)
        sync_audience(local, gateway, "main")

        (kari,) = _outbox(sandbox, email="kari@example.no")
        assert (kari["status"], kari["subject"]) == ("sent", "Cancelled: CONCERT-99")
        assert kari["text"].endswith("CONCERT-99 is cancelled.")
        assert kari["metadata"]["notice_id"] == NOTICE
        assert _outbox(sandbox, email="per@example.no") == []
        assert (report.status, report.left_out) == ("sent", {"undeliverable": 1})
        assert notice_status(local, NOTICE).totals == {"delivered": 2}
        member = sandbox.state.member(audience, subscriber_hash("kari@example.no"))
        assert member is not None
        assert member.status.value == "unsubscribed"
        assert not any(
            tag.endswith("newsletter") for tag in remote_tags(sandbox, audience, "kari@example.no")
        )
        marketing = [
            key.removeprefix(SAVED_PREFIX)
            for key in audience_state(local).segment_ids
            if key.startswith(SAVED_PREFIX) and key != SAVED_PREFIX + "Transactional notices"
        ]
        assert marketing
        for name in marketing:
            assert "kari@example.no" not in saved_segment_emails(local, gateway, name), name


def test_faults_injected_still_deliver_each_recipient_exactly_once(ctx: AppContext) -> None:
    knobs = SandboxKnobs(
        seed=11,
        fault_rate_429=0.15,
        fault_rate_5xx=0.15,
        fault_rate_drop=0.05,
        fault_rate_slow=0.05,
        slow_ms=1500,
    )
    with running_sandbox(knobs) as sandbox:
        local = _with_transactional(ctx, sandbox, batch_size=20)
        settings = local.settings.model_copy(
            update={"mailchimp": local.settings.mailchimp.model_copy(update={"timeout_seconds": 0.5})}
        )
        local = replace(local, settings=settings)
        emails = [f"h{i:03d}@example.no" for i in range(200)]
        for email in emails:
            _holder(local, email)
        _plan(local)
        with open_notice_sender(local.settings) as (sender, journey):
            report = send_notice(local, NOTICE, sender, journey)
            assert isinstance(sender, TransactionalGateway)
            retries = sender.stats.snapshot().total_retries

        sent = Counter(m["email"] for m in _outbox(sandbox) if m["status"] == "sent")
        assert sent == Counter(emails)
        assert retries > 0
        faults = {r["fault"] for r in sandbox.runtime.observations.requests()} - {None}
        assert {"429", "5xx"} <= faults
        assert (report.status, notice_status(local, NOTICE).totals) == ("sent", {"delivered": 200})


def test_kill_9_mid_send_then_rerun_reaches_each_recipient_once(ctx: AppContext, tmp_path: Path) -> None:
    with running_sandbox(SandboxKnobs(latency_ms=150)) as sandbox:
        local = _with_transactional(ctx, sandbox)
        emails = [f"t{i:04d}@example.no" for i in range(600)]
        for email in emails:
            _holder(local, email)
        _plan(local)
        env = {
            **os.environ,
            "CONSENT_SYNC_DATABASE__URL": local.settings.database.url,
            "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": local.suppression_key.decode(),
            "CONSENT_SYNC_TRANSACTIONAL__API_KEY": sandbox.transactional_key,
            "CONSENT_SYNC_TRANSACTIONAL__BASE_URL": sandbox.transactional_base_url,
            "CONSENT_SYNC_TRANSACTIONAL__FROM_EMAIL": "tickets@example.no",
            "CONSENT_SYNC_TRANSACTIONAL__BATCH_SIZE": "20",
        }
        command = [sys.executable, "-m", "connector.cli", "notice", "send", NOTICE, "--yes"]
        first = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while len(_outbox(sandbox)) < 100 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL, (first.stderr.read() if first.stderr else b"").decode()
        before = len(_outbox(sandbox))
        assert 0 < before < len(emails)

        rerun = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, check=False, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()

        messages = _outbox(sandbox, notice_id=NOTICE)
        counts = Counter(m["email"] for m in messages)
        assert set(counts) == set(emails)
        repeated = [email for email, n in counts.items() if n > 1]
        assert len(repeated) <= 20  # at most the one call in flight when it was killed
        assert all(n <= 2 for n in counts.values())
        assert notice_status(local, NOTICE).totals == {"delivered": 600}


def _serve(ctx: AppContext) -> tuple[Any, str]:
    app = create_app(ctx)
    running = start_threaded(
        lambda port: uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"),
        "127.0.0.1",
        0,
        "consent-sync API",
    )
    return (app, running), f"http://127.0.0.1:{running.port}/webhooks/transactional"


def test_a_hard_bounce_comes_back_signed_and_becomes_a_suppression(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    local = _with_transactional(ctx, sandbox)
    _holder(local, "kari@example.no")
    _holder(local, "ola@example.no")
    (app, running), url = _serve(local)
    try:
        with open_notice_sender(local.settings) as (sender, journey):
            assert isinstance(sender, TransactionalGateway)
            hook = sender.add_webhook(url, ["hard_bounce", "spam", "reject"], "consent-sync")
            transactional = local.settings.transactional.model_copy(
                update={"webhook_key": SecretStr(str(hook["auth_key"])), "webhook_url": url}
            )
            app.state.ctx = replace(
                local, settings=local.settings.model_copy(update={"transactional": transactional})
            )
            _plan(local)
            send_notice(local, NOTICE, sender, journey)
        bounced = requests.post(
            f"{sandbox.root_url}/sandbox/transactional/bounce",
            json={"email": "kari@example.no", "event": "hard_bounce"},
            timeout=5,
        ).json()
        assert bounced["webhooks"] == 1
        assert sandbox.wait_for_webhooks()
        (delivery,) = sandbox.runtime.webhooks.records()
        assert delivery["status"] == 200, delivery
        with unit_of_work(local.engine) as session:
            reasons = [row.reason for row in session.query(SuppressionRow).all()]
        assert "cleaned" in [str(getattr(r, "value", r)) for r in reasons]
        later = plan_notice_now(local, _spec("concert-99-moved"), local.now())
        assert [r.email for r in later.recipients] == ["ola@example.no"]
        assert {x.reason for x in later.left_out} == {LeftOutReason.UNDELIVERABLE}
    finally:
        running.server.should_exit = True
        running.thread.join(timeout=5)


def test_the_journey_route_reaches_members_and_records_refusals(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    local = with_sandbox(ctx, sandbox)
    for email in ("kari@example.no", "ola@example.no", "per@example.no"):
        subscribe(local, email)
        _holder(local, email)
    with open_gateway(local.settings.mailchimp) as gateway:
        sync_audience(local, gateway, "main")
        audience = list_id(local)
        created = requests.post(
            f"{sandbox.root_url}/sandbox/journeys", json={"list_id": audience}, timeout=5
        ).json()
        configured = [
            a.model_copy(
                update={
                    "notice_route": "journey",
                    "journey_id": created["journey_id"],
                    "journey_step_id": created["step_id"],
                }
            )
            for a in local.settings.audiences
        ]
        settings = local.settings.model_copy(
            update={
                "audiences": configured,
                "mailchimp": local.settings.mailchimp.model_copy(update={"api_key": None}),
            }
        )
        local = replace(local, settings=settings)
        _person(sandbox, audience, "kari@example.no", "unsubscribe")
        reconcile_audience(local, gateway, "main", accept_inbound=True)
        plan = _plan(local)
        assert {r.email for r in plan.recipients} == {"kari@example.no", "ola@example.no", "per@example.no"}
        # per is archived in Mailchimp after the plan: the trigger refuses, the sender records it
        requests.delete(
            f"{sandbox.base_url}/lists/{audience}/members/per@example.no",
            auth=("x", sandbox.api_key),
            timeout=5,
        )
        with open_notice_sender(local.settings) as (sender, journey):
            assert sender is None
            assert isinstance(journey, MailchimpGateway)
            report = send_notice(local, NOTICE, sender, journey)

    sends = requests.get(f"{sandbox.root_url}/sandbox/journeys/outbox", timeout=5).json()["sends"]
    assert sorted((s["email"], s["status"]) for s in sends) == [
        ("kari@example.no", "sent"),
        ("ola@example.no", "sent"),
        ("per@example.no", "refused:archived"),
    ]
    rows = {r["email"]: (r["status"], r["reject_reason"]) for r in notice_status(local, NOTICE).recipients}
    assert rows["per@example.no"] == ("rejected", "journey-refused:other")
    assert rows["kari@example.no"][0] == "triggered"
    assert report.calls == 3
