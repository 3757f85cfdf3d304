"""Sending a notice from the store: exactly once per recipient, resumable, answers recorded."""

import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from connector.core.model import Channel, ConsentAction, ConsentMethod, RelationshipKind, SuppressionReason
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.errors import InputError
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.notice_lock import NoticeBusyError, notice_send_lock
from connector.services.notice_sending import send_notice
from connector.services.notices import notice_status, plan_notice_now, record_notice
from connector.services.objections import record_objection
from connector.services.relationships import RelationshipInput, add_relationship
from connector.services.subjects import erase_subject
from connector.services.suppressions import suppress
from connector.store.engine import unit_of_work
from tests.conftest import START, FakeClock
from tests.notices.fakes import FakeTransactional, SenderDiedError

ORIGIN = Origin(actor="test", source="cli")
ROOT = Path(__file__).parents[2]


def _spec(notice_id: str = "concert-99-off") -> NoticeSpec:
    return NoticeSpec(
        id=notice_id,
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item="CONCERT-99"),
        template=NoticeTemplate(subject="Cancelled", text="Dear *|FNAME|*, *|ITEM|* is cancelled."),
        from_email="service@example.no",
    )


@pytest.fixture
def transactional_ctx(ctx: AppContext) -> AppContext:
    settings = ctx.settings.model_copy(
        update={
            "transactional": ctx.settings.transactional.model_copy(update={"api_key": "k", "batch_size": 3})
        }
    )
    return replace(ctx, settings=settings)


def _holder(ctx: AppContext, email: str, item: str = "CONCERT-99", ref: str | None = None) -> None:
    data = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=START - timedelta(days=10),
        service_date=START + timedelta(days=20),
        reference=ref or f"T-{email}",
        item=item,
    )
    add_relationship(ctx, email, data, ORIGIN)


def _plan(ctx: AppContext, notice_id: str = "concert-99-off") -> None:
    spec = _spec(notice_id)
    record_notice(ctx, spec, plan_notice_now(ctx, spec, ctx.now()), ORIGIN)


def test_an_opted_out_ticket_holder_gets_the_notice_once_and_a_rerun_sends_nothing(
    transactional_ctx: AppContext,
) -> None:
    ctx = transactional_ctx
    _holder(ctx, "kari@example.no")
    _holder(ctx, "ola@example.no", item="THEATRE-1")
    evidence = Evidence(occurred_at=START - timedelta(days=5), method=ConsentMethod.EMAIL)
    record_consent(
        ctx, "kari@example.no", ["newsletter"], Channel.EMAIL, ConsentAction.WITHDRAWN, evidence, ORIGIN
    )
    record_objection(ctx, "kari@example.no", ORIGIN, occurred_at=START - timedelta(days=4))
    _plan(ctx)
    sender = FakeTransactional()

    report = send_notice(ctx, "concert-99-off", sender)
    again = send_notice(ctx, "concert-99-off", sender)

    assert sender.delivered() == ["kari@example.no"]
    assert sender.outbox[0][1] == {"notice_id": "concert-99-off", "kind": "cancellation"}
    assert sender.outbox[0][2]["ITEM"] == "CONCERT-99"
    assert (report.status, report.calls, report.sent_now, report.kind) == ("sent", 1, 1, "cancellation")
    assert (again.calls, again.sent_now) == (0, 0)
    status = notice_status(ctx, "concert-99-off")
    assert status.totals == {"delivered": 1}


def test_a_sender_dying_mid_send_then_resumed_delivers_each_recipient_exactly_once(
    transactional_ctx: AppContext,
) -> None:
    ctx = transactional_ctx
    emails = [f"holder{i:02d}@example.no" for i in range(10)]
    for email in emails:
        _holder(ctx, email)
    _plan(ctx)
    sender = FakeTransactional(die_after_calls=2)

    with pytest.raises(SenderDiedError):
        send_notice(ctx, "concert-99-off", sender)
    in_flight = notice_status(ctx, "concert-99-off").totals
    assert in_flight == {"delivered": 3, "in flight": 3, "pending": 4}
    report = send_notice(ctx, "concert-99-off", sender)

    delivered = Counter(sender.delivered())
    assert set(delivered) == set(emails)
    repeated = [email for email, n in delivered.items() if n > 1]
    assert len(repeated) == 3  # only the one call in flight when it died repeats
    assert report.repeated == 3
    assert notice_status(ctx, "concert-99-off").totals == {"delivered": 10}


def test_rejections_are_recorded_reported_and_never_retried(transactional_ctx: AppContext) -> None:
    ctx = transactional_ctx
    _holder(ctx, "kari@example.no")
    _holder(ctx, "ola@example.no")
    _plan(ctx)
    sender = FakeTransactional(rejects={"ola@example.no": "unsub"})

    send_notice(ctx, "concert-99-off", sender)
    send_notice(ctx, "concert-99-off", sender)

    assert sender.calls == 1
    rows = {
        r["email"]: (r["status"], r["reject_reason"]) for r in notice_status(ctx, "concert-99-off").recipients
    }
    assert rows == {"kari@example.no": ("delivered", None), "ola@example.no": ("rejected", "unsub")}
    # a later notice leaves the reject-listed address out, saying why
    spec = _spec("concert-99-moved")
    plan = plan_notice_now(ctx, spec, ctx.now())
    assert [(e.reason.value, e.why) for e in plan.left_out] == [
        ("reject_list", "on Mailchimp Transactional's reject list (unsub)")
    ]


def test_erased_or_bounced_after_planning_are_skipped_at_send_time(
    transactional_ctx: AppContext, clock: FakeClock
) -> None:
    ctx = transactional_ctx
    for email in ("kari@example.no", "ola@example.no", "per@example.no"):
        _holder(ctx, email)
    _plan(ctx)
    clock.advance(hours=1)
    erase_subject(ctx, "ola@example.no", ORIGIN)
    with unit_of_work(ctx.engine) as session:
        suppress(session, "per@example.no", ctx.suppression_key, SuppressionReason.CLEANED, ORIGIN, ctx.now())
    sender = FakeTransactional()

    report = send_notice(ctx, "concert-99-off", sender)

    assert sender.delivered() == ["kari@example.no"]
    assert report.left_out == {"undeliverable": 1}
    assert report.status == "sent"


def test_the_same_id_with_other_content_is_refused(transactional_ctx: AppContext) -> None:
    ctx = transactional_ctx
    _holder(ctx, "kari@example.no")
    _plan(ctx)
    changed = replace(_spec(), kind=NoticeKind.CHANGE)
    with pytest.raises(InputError, match="planned with another content"):
        record_notice(ctx, changed, plan_notice_now(ctx, changed, ctx.now()), ORIGIN)


def test_erasure_keeps_the_delivery_record_without_the_address(transactional_ctx: AppContext) -> None:
    ctx = transactional_ctx
    _holder(ctx, "kari@example.no")
    _plan(ctx)
    send_notice(ctx, "concert-99-off", FakeTransactional())

    erase_subject(ctx, "kari@example.no", ORIGIN)

    (row,) = notice_status(ctx, "concert-99-off").recipients
    assert (row["email"], row["status"]) == ("", "delivered")
    again = FakeTransactional()
    assert send_notice(ctx, "concert-99-off", again).sent_now == 0
    assert again.calls == 0


def test_a_send_process_killed_without_clean_up_resumes_each_recipient_exactly_once(
    transactional_ctx: AppContext, tmp_path: Path
) -> None:
    ctx = transactional_ctx
    emails = sorted(f"holder{i:02d}@example.no" for i in range(10))
    for email in emails:
        _holder(ctx, email)
    _plan(ctx)
    outbox = tmp_path / "outbox.txt"
    env = {
        **os.environ,
        "CONSENT_SYNC_DATABASE__URL": ctx.settings.database.url,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": ctx.suppression_key.decode(),
        "CONSENT_SYNC_TRANSACTIONAL__API_KEY": "k",
        "CONSENT_SYNC_TRANSACTIONAL__BATCH_SIZE": "3",
    }
    command = [sys.executable, "-m", "tests.notices.dying_sender", "concert-99-off"]

    died = subprocess.run([*command, "2", str(outbox)], env=env, cwd=ROOT, check=False)
    resumed = subprocess.run([*command, "0", str(outbox)], env=env, cwd=ROOT, check=False)

    assert died.returncode == 137
    assert resumed.returncode == 0
    accepted = Counter(outbox.read_text(encoding="utf-8").split())
    assert sorted(accepted) == emails
    assert sum(accepted.values()) == len(emails) + 3  # only the call in flight when it died went twice
    assert notice_status(ctx, "concert-99-off").totals == {"delivered": 10}


def test_a_second_send_of_the_same_notice_while_one_runs_is_refused(transactional_ctx: AppContext) -> None:
    ctx = transactional_ctx
    _holder(ctx, "kari@example.no")
    _plan(ctx)
    sender = FakeTransactional()

    with notice_send_lock(ctx, "concert-99-off"), pytest.raises(NoticeBusyError, match="another send"):
        send_notice(ctx, "concert-99-off", sender)

    assert sender.calls == 0
    assert send_notice(ctx, "concert-99-off", sender).sent_now == 1
