"""SMS notices end to end over real HTTP (issue 15 item 7): the store, the sandbox's Transactional
``messages/send-sms`` and its SMS reject list; exactly once per (notice, contact, channel)."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import requests

from connector.core.model import RelationshipKind
from connector.core.notice_spec import NoticeChannel, NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.core.notices import LeftOutReason
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext
from connector.services.notice_sending import open_notice_sender, send_notice
from connector.services.notices import notice_status, plan_notice_now, record_notice
from connector.services.relationships import RelationshipInput, add_relationship
from connector.store.engine import unit_of_work
from tests.notices.test_notice_transactional_e2e import _with_transactional
from tests.sync.support import ORIGIN

pytestmark = pytest.mark.slow
SMS_FROM = "+4759440000"


def _spec(notice_id: str, channels: tuple[NoticeChannel, ...]) -> NoticeSpec:
    return NoticeSpec(
        id=notice_id,
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item="CONCERT-7"),
        template=NoticeTemplate(subject="Cancelled: *|ITEM|*", text="Dear *|FNAME|*, *|ITEM|* is cancelled."),
        from_email="tickets@example.no",
        channels=channels,
        sms_text="*|ITEM|* is cancelled; your ticket *|REFERENCE|* is refunded.",
    )


def _holder(ctx: AppContext, email: str, phone: str | None) -> None:
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput(email, phone=phone, first_name="Kari"), ORIGIN, ctx.now())
    data = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=ctx.now() - timedelta(days=10),
        service_date=ctx.now() + timedelta(days=20),
        reference=f"T-{email.partition('@')[0]}",
        item="CONCERT-7",
    )
    add_relationship(ctx, email, data, ORIGIN)


def _send(ctx: AppContext, spec: NoticeSpec) -> Any:
    plan = plan_notice_now(ctx, spec, ctx.now())
    record_notice(ctx, spec, plan, ORIGIN)
    with open_notice_sender(ctx.settings) as (sender, journey):
        report = send_notice(ctx, spec.id, sender, journey)
    return plan, report


def _sms_outbox(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox.root_url}/sandbox/transactional/sms-outbox", timeout=10)
    return list(answer.json()["messages"])


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(seed=5)) as handle:
        yield handle


def test_sms_arrives_once_per_mobile_holder_email_too_and_a_stop_reply_is_reported(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    local = _with_transactional(ctx, sandbox, sms_from=SMS_FROM)
    _holder(local, "kari@example.no", "+47 912 34 567")
    _holder(local, "ola@example.no", None)
    _holder(local, "per@example.no", "+4722123456")  # a landline
    _holder(local, "anne@example.no", "+4791234568")
    stop = requests.post(
        f"{sandbox.root_url}/sandbox/transactional/sms-stop", json={"phone": "+4791234568"}, timeout=5
    )
    assert stop.status_code == 200

    plan, report = _send(local, _spec("c7-both", (NoticeChannel.EMAIL, NoticeChannel.SMS)))
    assert plan.calls == {"transactional": 1, "sms": 2}  # the texts differ by ticket reference
    sms = _sms_outbox(sandbox)
    assert Counter((m["to"], m["status"]) for m in sms) == {
        ("+4791234567", "sent"): 1,
        ("+4791234568", "rejected"): 1,
    }
    kari = next(m for m in sms if m["to"] == "+4791234567")
    assert kari["text"] == "CONCERT-7 is cancelled; your ticket T-kari is refunded."
    assert (kari["from"], kari["consent"]) == (SMS_FROM, "onetime")
    assert report.status == "sent"
    status = notice_status(local, "c7-both")
    by = {(r["email"], r["channel"]): (r["status"], r["reject_reason"]) for r in status.recipients}
    assert by[("kari@example.no", "sms")] == ("delivered", None)
    assert by[("anne@example.no", "sms")] == ("rejected", "unsub")
    assert by[("ola@example.no", "email")] == ("delivered", None)
    left = {(e.email, e.reason) for e in plan.left_out}
    assert left == {("ola@example.no", LeftOutReason.NO_MOBILE), ("per@example.no", LeftOutReason.NO_MOBILE)}

    with open_notice_sender(local.settings) as (sender, journey):
        again = send_notice(local, "c7-both", sender, journey)
    assert (again.calls, len(_sms_outbox(sandbox))) == (0, 2)

    later = plan_notice_now(local, _spec("c7-sms-2", (NoticeChannel.SMS,)), local.now())
    rejected = [e for e in later.left_out if e.reason is LeftOutReason.REJECT_LIST]
    assert [e.email for e in rejected] == ["anne@example.no"]


def test_without_sms_from_the_plan_says_no_sms_route_and_nothing_is_sent(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    local = _with_transactional(ctx, sandbox)
    _holder(local, "kari@example.no", "+4791234567")
    plan, report = _send(local, _spec("c7-no-route", (NoticeChannel.SMS,)))
    assert [(e.reason, e.why) for e in plan.left_out] == [
        (LeftOutReason.NO_SMS_ROUTE, "no SMS route: no SMS sender number configured (transactional.sms_from)")
    ]
    assert (report.calls, _sms_outbox(sandbox)) == (0, [])


def test_faults_injected_still_send_each_sms_exactly_once(ctx: AppContext) -> None:
    knobs = SandboxKnobs(seed=13, fault_rate_429=0.2, fault_rate_5xx=0.2)
    with running_sandbox(knobs) as sandbox:
        local = _with_transactional(ctx, sandbox, sms_from=SMS_FROM)
        phones = [f"+479100{n:04d}" for n in range(25)]
        for n, phone in enumerate(phones):
            _holder(local, f"h{n:02d}@example.no", phone)
        plan, report = _send(
            local, replace(_spec("c7-faults", (NoticeChannel.SMS,)), sms_text="*|ITEM|* is off.")
        )
        assert plan.calls == {"sms": 3}
        assert Counter(m["to"] for m in _sms_outbox(sandbox) if m["status"] == "sent") == Counter(phones)
        faults = {r["fault"] for r in sandbox.runtime.observations.requests()} - {None}
        assert faults
        assert (report.status, report.calls, notice_status(local, "c7-faults").totals) == (
            "sent",
            3,
            {"delivered": 25},
        )
