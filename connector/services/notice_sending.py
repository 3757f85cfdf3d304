"""Sending a recorded notice exactly once per recipient, resumably.

1. Plan again at send time (the policy decides at send time: a person erased or bounced since the plan
   is skipped, a ticket bought since is added) and write one ``notice_deliveries`` row per recipient not
   yet recorded (``pending``); pending rows the plan now leaves out become ``skipped`` with the reason.
2. Claim a batch (``pending`` → ``claimed`` with a batch id, committed) → send it in one call →
   record every per-recipient answer and mark the rows ``done`` in one transaction.
3. On restart, rows still ``claimed`` are the only ones that may go out again (their call may or may
   not have reached Transactional; the message's ``metadata`` carries the notice id, so a repeat is
   visible there). ``done`` rows are never sent again, whatever their answer: a rejection (``unsub``,
   ``hard-bounce``…) is reported, never retried.

SMS deliveries (channel ``sms``) go the same way, one ``messages/send-sms`` call per claimed batch of
numbers sharing one text (``sms_group``); ``send-sms`` carries no metadata, so a repeated SMS after a
crash shows only in the delivery's ``attempts``.
"""

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from connector.core.notice_spec import NoticeChannel, NoticeSpec, merge_text
from connector.core.notices import NoticePlan, Recipient, Route, sms_group
from connector.errors import ConsentSyncError
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.gateway_settings import gateway_settings
from connector.mailchimp.payloads import MemberOutcome
from connector.mailchimp.transactional import TransactionalGateway
from connector.mailchimp.transactional_payloads import (
    DeliveryOutcome,
    NoticeMessage,
    NoticeRecipient,
    SmsOutcome,
)
from connector.services.context import AppContext
from connector.services.notice_lock import notice_send_lock
from connector.services.notices import plan_notice_now, plan_summary, stored_spec
from connector.settings import Settings
from connector.store.engine import unit_of_work
from connector.store.notice_tables import NoticeDeliveryRow, NoticeRow


class NoticeSender(Protocol):
    """What sends a notice through Mailchimp Transactional (``TransactionalGateway`` is one)."""

    @property
    def max_recipients_per_call(self) -> int: ...

    def send(self, message: NoticeMessage) -> list[DeliveryOutcome]: ...


@runtime_checkable
class SmsSender(Protocol):
    """What sends one text to some numbers through Transactional's ``messages/send-sms``."""

    def send_sms(self, text: str, numbers: Sequence[str], from_number: str) -> list[SmsOutcome]: ...


SMS_PER_CALL = 10
"""Numbers per ``send-sms`` call (``core.notices.SMS_RECIPIENTS_PER_CALL``: answered synchronously)."""


class JourneyTrigger(Protocol):
    """What triggers an audience's Customer Journey for one contact (``MailchimpGateway`` is one):
    ``None`` when Mailchimp accepted, else its refusal of that member (recorded, never raised)."""

    def trigger_journey(self, journey_id: int, step_id: int, email: str) -> MemberOutcome | None: ...


Progress = Callable[[int, int], None]
"""Called after each recorded call with (recipients done, recipients to send)."""
Confirm = Callable[[NoticeSpec, int], bool]
"""Asked (the notice, recipients to send) whether to go ahead above the threshold."""


@dataclass(slots=True)
class SendReport:
    notice_id: str
    kind: str
    status: str
    calls: int = 0
    sent_now: int = 0
    repeated: int = 0
    """Recipients of calls claimed by an interrupted send, sent again (at most the calls in flight)."""
    totals: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    """Recipients no call of consent-sync reaches (campaign route), or with no sender configured."""


class NoticeSendError(ConsentSyncError):
    """A send stopped; what was recorded stays recorded and a rerun sends the rest."""


@contextmanager
def open_notice_sender(settings: Settings) -> Iterator[tuple[NoticeSender | None, JourneyTrigger | None]]:
    """The Transactional sender (when ``transactional.api_key`` is set) and the journey trigger (when an
    audience routes notices by journey), closed at the end. The Marketing gateway is built like a sync
    run's (``gateway_settings``), so a local sandbox needs no key."""
    with ExitStack() as stack:
        sender: NoticeSender | None = None
        transactional = settings.transactional
        if transactional.api_key is not None:
            sender = stack.enter_context(
                TransactionalGateway(
                    transactional.api_key.get_secret_value(),
                    transactional.base_url,
                    timeout_seconds=settings.mailchimp.timeout_seconds,
                    max_attempts=settings.mailchimp.max_attempts,
                    backoff_initial_seconds=settings.mailchimp.backoff_initial_seconds,
                    backoff_max_seconds=settings.mailchimp.backoff_max_seconds,
                    max_connections=transactional.max_connections,
                )
            )
        journey: JourneyTrigger | None = None
        if any(a.notice_route == "journey" for a in settings.audiences):
            journey = stack.enter_context(MailchimpGateway(gateway_settings(settings.mailchimp)))
        yield sender, journey


def prepare_send(
    ctx: AppContext, notice_id: str, max_recipients_per_call: int | None = None
) -> tuple[NoticeSpec, NoticePlan, int]:
    """Plan at send time and write the delivery rows; the number of recipients still to send."""
    spec, _status = stored_spec(ctx, notice_id)
    now = ctx.now()
    plan = plan_notice_now(ctx, spec, now, max_recipients_per_call)
    with unit_of_work(ctx.engine) as session:
        notice = session.get(NoticeRow, notice_id)
        assert notice is not None
        _write_deliveries(session, notice_id, plan)
        notice.status = "sending" if notice.status != "sent" else notice.status
        notice.send_started_at = notice.send_started_at or now
        notice.report = {**notice.report, "send_plan": plan_summary(plan)}
        remaining = _count(session, notice_id, ("pending", "claimed"))
    return spec, plan, remaining


def send_notice(
    ctx: AppContext,
    notice_id: str,
    sender: NoticeSender | None,
    journey: JourneyTrigger | None = None,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
) -> SendReport:
    """Send what is left of the notice, holding its send lock (``NoticeBusyError`` if another process
    sends it). ``confirm`` is asked with the number still to send when it exceeds
    ``transactional.confirm_above``; a no sends nothing (the report's status is ``not confirmed``)."""
    with notice_send_lock(ctx, notice_id):
        per_call = sender.max_recipients_per_call if sender is not None else None
        spec, plan, remaining = prepare_send(ctx, notice_id, per_call)
        above = remaining > ctx.settings.transactional.confirm_above
        if confirm is not None and above and not confirm(spec, remaining):
            return SendReport(spec.id, spec.kind.value, "not confirmed")
        return _send(ctx, spec, plan, remaining, sender, journey, progress)


def _send(
    ctx: AppContext,
    spec: NoticeSpec,
    plan: NoticePlan,
    remaining: int,
    sender: NoticeSender | None,
    journey: JourneyTrigger | None,
    progress: Progress | None,
) -> SendReport:
    per_call = sender.max_recipients_per_call if sender is not None else None
    report = SendReport(spec.id, spec.kind.value, "sending")
    report.left_out = {
        k.removeprefix("left_out:"): v for k, v in plan.counts().items() if k.startswith("left_out:")
    }
    batch_size = min(ctx.settings.transactional.batch_size, per_call or ctx.settings.transactional.batch_size)
    done = 0
    if sender is not None:
        while batch := _claim(ctx, spec.id, Route.TRANSACTIONAL, batch_size, report):
            outcomes = sender.send(_message(spec, batch))
            _record(ctx, spec.id, batch, outcomes)
            report.calls += 1
            report.sent_now += len(batch)
            done += len(batch)
            if progress is not None:
                progress(done, remaining)
    sms_from = ctx.settings.transactional.sms_from
    if isinstance(sender, SmsSender) and sms_from is not None:
        while batch := _claim(ctx, spec.id, Route.TRANSACTIONAL, SMS_PER_CALL, report, NoticeChannel.SMS):
            for text, numbers in _sms_calls(spec, batch).items():
                sms_outcomes = sender.send_sms(text, [c.phone or "" for c in numbers], sms_from)
                _record(ctx, spec.id, numbers, _as_delivery(numbers, sms_outcomes), channel=NoticeChannel.SMS)
                report.calls += 1
                report.sent_now += len(numbers)
                done += len(numbers)
                if progress is not None:
                    progress(done, remaining)
    configured = ctx.settings.audience(spec.audience)
    if journey is not None and configured.journey_id is not None and configured.journey_step_id is not None:
        while batch := _claim(ctx, spec.id, Route.JOURNEY, 1, report):
            refusal = journey.trigger_journey(
                configured.journey_id, configured.journey_step_id, batch[0].email
            )
            if refusal is None:
                outcome = DeliveryOutcome(batch[0].email, "sent", None, None)
                _record(ctx, spec.id, batch, [outcome], status="triggered")
            else:
                reason = f"journey-refused:{refusal.kind.value}"
                _record(ctx, spec.id, batch, [DeliveryOutcome(batch[0].email, "rejected", reason, None)])
            report.calls += 1
            report.sent_now += 1
            done += 1
            if progress is not None:
                progress(done, remaining)
    return _finish(ctx, spec.id, report)


@dataclass(frozen=True, slots=True)
class _Claimed:
    contact_id: str
    email: str
    merge_vars: dict[str, str]
    again: bool
    phone: str | None = None


def _write_deliveries(session: Session, notice_id: str, plan: NoticePlan) -> None:
    """One row per new recipient (one multi-row INSERT); pending rows the plan left out → skipped."""
    d = NoticeDeliveryRow
    known = {
        (contact_id, channel): (state, seq)
        for contact_id, channel, state, seq in session.execute(
            select(col(d.contact_id), col(d.channel), col(d.state), col(d.seq)).where(
                col(d.notice_id) == notice_id
            )
        )
    }
    seq = max((s for _state, s in known.values()), default=0)
    planned = {(r.contact_id, r.channel.value) for r in plan.recipients}
    fresh = []
    for recipient in plan.recipients:
        if (recipient.contact_id, recipient.channel.value) in known:
            continue
        seq += 1
        fresh.append(_delivery(notice_id, recipient, seq))
    for start in range(0, len(fresh), 5_000):
        session.execute(insert(d), fresh[start : start + 5_000])
    why_left = {left.contact_id: left.why for left in plan.left_out if left.contact_id}
    skipped = [
        {
            "notice_id": notice_id,
            "contact_id": contact_id,
            "channel": channel,
            "state": "skipped",
            "why": f"left out at send time: {why_left.get(contact_id, 'no longer targeted')}"[:500],
            "done_at": plan.planned_at,
        }
        for (contact_id, channel), (state, _seq) in known.items()
        if state == "pending" and (contact_id, channel) not in planned
    ]
    if skipped:
        session.execute(update(d), skipped)


def _delivery(notice_id: str, recipient: Recipient, seq: int) -> dict[str, object]:
    sms = recipient.channel is NoticeChannel.SMS
    return {
        "notice_id": notice_id,
        "contact_id": recipient.contact_id,
        "channel": recipient.channel.value,
        "seq": seq,
        "route": recipient.route.value,
        "why": recipient.why[:500],
        "email": recipient.email,
        "merge_vars": dict(recipient.merge_vars),
        "state": "pending",
        "attempts": 0,
        "phone": recipient.phone if sms else None,
        "sms_group": sms_group(recipient) if sms else None,
    }


def _claim(
    ctx: AppContext,
    notice_id: str,
    route: Route,
    size: int,
    report: SendReport,
    channel: NoticeChannel = NoticeChannel.EMAIL,
) -> list[_Claimed]:
    """The next batch, claimed and committed before it is sent: rows an interrupted send claimed first.
    An SMS batch holds numbers of one text (the first pending one's ``sms_group``)."""
    d = NoticeDeliveryRow
    with unit_of_work(ctx.engine) as session:
        base = select(
            col(d.contact_id), col(d.email), col(d.merge_vars), col(d.phone), col(d.state), col(d.sms_group)
        ).where(
            col(d.notice_id) == notice_id,
            col(d.route) == route.value,
            col(d.channel) == channel.value,
        )
        rows = list(session.execute(base.where(col(d.state) == "claimed").order_by(col(d.seq)).limit(size)))
        if not rows:
            pending = base.where(col(d.state) == "pending").order_by(col(d.seq))
            if channel is NoticeChannel.SMS:
                first = session.execute(pending.limit(1)).first()
                if first is not None:
                    pending = pending.where(col(d.sms_group) == first.sms_group)
            rows = list(session.execute(pending.limit(size)))
        if not rows:
            return []
        batch_id = str(uuid.uuid4())
        session.execute(
            update(d)
            .where(
                col(d.notice_id) == notice_id,
                col(d.channel) == channel.value,
                col(d.contact_id).in_([row.contact_id for row in rows]),
            )
            .values(state="claimed", batch_id=batch_id, claimed_at=ctx.now(), attempts=col(d.attempts) + 1)
        )
        claimed = []
        for row in rows:
            again = row.state == "claimed"
            report.repeated += again
            claimed.append(_Claimed(row.contact_id, row.email, dict(row.merge_vars), again, row.phone))
    return claimed


def _sms_calls(spec: NoticeSpec, batch: Sequence[_Claimed]) -> dict[str, list[_Claimed]]:
    """The batch's numbers by the text each gets (one call per text), merged as the plan merged it."""
    calls: dict[str, list[_Claimed]] = {}
    for claimed in batch:
        text = merge_text(spec.sms_body() or "", {**spec.merge_vars, **claimed.merge_vars})
        calls.setdefault(text, []).append(claimed)
    return calls


def _as_delivery(batch: Sequence[_Claimed], outcomes: Sequence[SmsOutcome]) -> list[DeliveryOutcome]:
    """SMS answers keyed like e-mail ones (by the recipient's key: here the number)."""
    by_phone = {o.phone: o for o in outcomes}
    found = []
    for claimed in batch:
        outcome = by_phone.get(claimed.phone or "")
        if outcome is None:
            found.append(DeliveryOutcome(claimed.phone or "", "invalid", "unanswered", None))
            continue
        status = (
            outcome.status if outcome.status in ("sent", "queued", "scheduled", "rejected") else "invalid"
        )
        found.append(DeliveryOutcome(outcome.phone, status, outcome.reject_reason, outcome.message_id))  # type: ignore[arg-type]
    return found


def _message(spec: NoticeSpec, batch: Sequence[_Claimed]) -> NoticeMessage:
    template = spec.template
    return NoticeMessage(
        subject=template.subject,
        from_email=spec.from_email,
        from_name=spec.from_name,
        text=template.text,
        html=template.html,
        template_name=template.template_name,
        global_merge_vars=dict(spec.merge_vars),
        metadata={"notice_id": spec.id, "kind": spec.kind.value},
        tags=(f"notice:{spec.kind.value}",),
        recipients=tuple(
            NoticeRecipient(c.email, None, c.merge_vars, {"contact_id": c.contact_id, "notice_id": spec.id})
            for c in batch
        ),
    )


def _record(
    ctx: AppContext,
    notice_id: str,
    batch: Sequence[_Claimed],
    outcomes: Sequence[DeliveryOutcome],
    status: str | None = None,
    channel: NoticeChannel = NoticeChannel.EMAIL,
) -> None:
    """Every answer of one call, and its rows marked done, in one transaction. Answers are matched by
    address (by number for an SMS)."""
    by_key = {o.email.strip().lower(): o for o in outcomes}
    now = ctx.now()
    values = []
    for claimed in batch:
        key = claimed.phone if channel is NoticeChannel.SMS else claimed.email
        outcome = by_key.get((key or "").strip().lower())
        values.append(
            {
                "notice_id": notice_id,
                "contact_id": claimed.contact_id,
                "channel": channel.value,
                "state": "done",
                "done_at": now,
                "status": (status or outcome.status) if outcome is not None else "unanswered",
                "reject_reason": outcome.reject_reason if outcome is not None else None,
                "message_id": outcome.message_id if outcome is not None else None,
            }
        )
    with unit_of_work(ctx.engine) as session:
        session.execute(update(NoticeDeliveryRow), values)


def _finish(ctx: AppContext, notice_id: str, report: SendReport) -> SendReport:
    with unit_of_work(ctx.engine) as session:
        notice = session.get(NoticeRow, notice_id)
        assert notice is not None
        totals: dict[str | None, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(col(NoticeDeliveryRow.status), func.count())
                .where(col(NoticeDeliveryRow.notice_id) == notice_id, col(NoticeDeliveryRow.state) == "done")
                .group_by(col(NoticeDeliveryRow.status))
            ).all()
        )
        waiting: dict[str, int] = {}
        for route, channel, count in session.execute(
            select(col(NoticeDeliveryRow.route), col(NoticeDeliveryRow.channel), func.count())
            .where(
                col(NoticeDeliveryRow.notice_id) == notice_id,
                col(NoticeDeliveryRow.state).in_(("pending", "claimed")),
            )
            .group_by(col(NoticeDeliveryRow.route), col(NoticeDeliveryRow.channel))
        ):
            key = "sms" if channel == NoticeChannel.SMS.value else str(route)
            waiting[key] = waiting.get(key, 0) + int(count)
        report.totals = {str(k): int(v) for k, v in totals.items()}
        report.waiting = waiting
        sendable = {Route.TRANSACTIONAL.value, Route.JOURNEY.value, "sms"}
        if not sendable & set(report.waiting):
            notice.status = "sent"
            notice.sent_at = notice.sent_at or ctx.now()
        report.status = notice.status
        notice.report = {**notice.report, "send": _report_document(report)}
    return report


def _count(session: Session, notice_id: str, states: Sequence[str]) -> int:
    query = select(func.count()).where(
        col(NoticeDeliveryRow.notice_id) == notice_id, col(NoticeDeliveryRow.state).in_(list(states))
    )
    return int(session.execute(query).scalar_one())


def _report_document(report: SendReport) -> dict[str, object]:
    return {
        "status": report.status,
        "kind": report.kind,
        "calls": report.calls,
        "sent_now": report.sent_now,
        "repeated": report.repeated,
        "totals": report.totals,
        "left_out": report.left_out,
        "waiting": report.waiting,
    }


def report_document(report: SendReport) -> dict[str, object]:
    return {"notice_id": report.notice_id, **_report_document(report)}
