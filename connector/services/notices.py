"""Transactional notices in the store: gather the targeted contacts, plan (pure, ``core.notices``), record
the notice once (its id is the idempotency key), and read a notice's per-recipient status.

Sending is :mod:`connector.services.notice_sending`.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from connector.collector import collector_paused
from connector.core.notice_spec import NoticeChannel, NoticeSpec, check_spec, spec_from_document
from connector.core.notices import (
    NoticeCandidate,
    NoticePlan,
    Route,
    RouteSettings,
    choose_route,
)
from connector.errors import InputError, NotFoundError
from connector.services.context import AppContext, Origin
from connector.services.notice_candidates import (
    load_candidates,
    members_by_contact,
    rejected_by_contact,
)
from connector.settings import Settings
from connector.store.engine import unit_of_work
from connector.store.facts import load_facts
from connector.store.notice_tables import NoticeDeliveryRow, NoticeRow


def route_settings(
    settings: Settings, audience: str, max_recipients_per_call: int | None = None
) -> RouteSettings:
    """The route the audience's configuration gives notices, and what of it is ready."""
    configured = settings.audience(audience)
    mode = configured.mode or settings.mapping.mode
    per_call = max_recipients_per_call or settings.transactional.batch_size
    return RouteSettings(
        audience=audience,
        route=Route(configured.notice_route),
        transactional_ready=settings.transactional.api_key is not None,
        journey_ready=configured.journey_id is not None and configured.journey_step_id is not None,
        segments_mode=mode == "segments",
        max_recipients_per_call=min(per_call, settings.transactional.batch_size),
        sms_ready=settings.transactional.api_key is not None and settings.transactional.sms_from is not None,
    )


def plan_notice_now(
    ctx: AppContext, spec: NoticeSpec, now: datetime, max_recipients_per_call: int | None = None
) -> NoticePlan:
    """The plan of ``spec`` at ``now``, from the store as it is (nothing is written).

    The cyclic garbage collector is paused meanwhile (:mod:`connector.collector`): loading and planning
    100,000 holders builds about a million acyclic objects that live until the plan is built, and the
    collector walking them again and again took about 40 % of the planning time.
    """
    check_spec(spec)
    routes = route_settings(ctx.settings, spec.audience, max_recipients_per_call)
    with collector_paused():
        return _plan_from_store(ctx, spec, routes, now)


def _plan_from_store(ctx: AppContext, spec: NoticeSpec, routes: RouteSettings, now: datetime) -> NoticePlan:
    """Load and plan; the candidates are dropped on return, before the collector runs again (it then
    walks the plan only)."""
    from connector.core.notices import plan_notice

    with unit_of_work(ctx.engine) as session:
        candidates, erased = load_candidates(session, ctx, spec)
    return plan_notice(spec, candidates, routes, ctx.settings.policy, now, erased_emails=erased)


def record_notice(ctx: AppContext, spec: NoticeSpec, plan: NoticePlan, origin: Origin) -> NoticeRow:
    """The notice, recorded once: the same id with another spec is refused; the plan's summary kept."""
    document = spec.document()
    with unit_of_work(ctx.engine) as session:
        row = session.get(NoticeRow, spec.id)
        if row is not None and row.spec != document:
            raise InputError("id", f"notice {spec.id!r} was planned with another content; use a new id")
        if row is None:
            row = NoticeRow(
                id=spec.id,
                kind=spec.kind.value,
                audience=spec.audience,
                spec=document,
                status="planned",
                created_at=plan.planned_at,
                actor=origin.actor,
                report={},
            )
            session.add(row)
        row.report = {**row.report, "plan": plan_summary(plan)}
    return row


def stored_spec(ctx: AppContext, notice_id: str) -> tuple[NoticeSpec, str]:
    """The spec of a recorded notice and its status."""
    with unit_of_work(ctx.engine) as session:
        row = session.get(NoticeRow, notice_id)
        if row is None:
            raise NotFoundError("ID", f"no notice {notice_id!r}; plan it first (consent-sync notice plan)")
        return spec_from_document(row.spec), row.status


def plan_summary(plan: NoticePlan) -> dict[str, Any]:
    """The plan as the JSON the store keeps and ``--json`` prints: no addresses, contact ids only."""
    return {
        "notice_id": plan.notice_id,
        "kind": plan.kind,
        "planned_at": plan.planned_at.isoformat(),
        "counts": plan.counts(),
        "calls": dict(plan.calls),
        "total_calls": plan.total_calls,
        "left_out": [
            {"contact_id": left.contact_id, "reason": left.reason.value, "why": left.why}
            | ({"channel": left.channel.value} if left.channel is not None else {})
            for left in plan.left_out
        ],
    }


def plan_document(plan: NoticePlan) -> dict[str, Any]:
    """The whole plan for an operator (CLI ``--json``, admin API): recipients with address and route."""
    summary = plan_summary(plan)
    summary["left_out"] = [
        {**entry, "email": left.email} for entry, left in zip(summary["left_out"], plan.left_out, strict=True)
    ]
    return {
        **summary,
        "recipients": [
            {"contact_id": r.contact_id, "email": r.email, "route": r.route.value, "why": r.why}
            | ({"channel": "sms", "phone": r.phone, "text": r.text} if r.channel is NoticeChannel.SMS else {})
            for r in plan.recipients
        ],
    }


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    notice_id: str
    kind: str
    status: str
    totals: dict[str, int]
    recipients: list[dict[str, Any]]
    report: dict[str, Any]


def notice_status(ctx: AppContext, notice_id: str) -> NoticeStatus:
    """Per recipient: delivered (sent), queued, rejected (with the reason), bounced…; and totals."""
    with unit_of_work(ctx.engine) as session:
        row = session.get(NoticeRow, notice_id)
        if row is None:
            raise NotFoundError("ID", f"no notice {notice_id!r}")
        query = (
            select(NoticeDeliveryRow)
            .where(col(NoticeDeliveryRow.notice_id) == notice_id)
            .order_by(col(NoticeDeliveryRow.seq))
        )
        deliveries = list(session.execute(query).scalars())
        recipients = [
            {
                "contact_id": d.contact_id,
                "channel": d.channel,
                "email": d.email,
                "phone": d.phone,
                "route": d.route,
                "state": d.state,
                "status": delivery_label(d),
                "reject_reason": d.reject_reason,
                "message_id": d.message_id,
                "done_at": d.done_at.isoformat() if d.done_at else None,
            }
            for d in deliveries
        ]
        totals = Counter(r["status"] for r in recipients)
        return NoticeStatus(
            row.id, row.kind, row.status, dict(sorted(totals.items())), recipients, row.report
        )


def delivery_label(delivery: NoticeDeliveryRow) -> str:
    """One word per recipient: delivered, queued, scheduled, rejected, invalid, bounced, complained,
    triggered (journey), pending, in flight (claimed, no answer recorded) or skipped."""
    if delivery.state == "done":
        return "delivered" if delivery.status == "sent" else delivery.status or "unknown"
    if delivery.state == "claimed":
        return "in flight"
    return delivery.state


def explain_route(ctx: AppContext, email: str) -> str:
    """How a transactional notice reaches the person today (first audience), in words (for explain)."""
    from connector.services.contacts import require_contact

    audience = ctx.settings.audiences[0].name
    routes = route_settings(ctx.settings, audience)
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, email)
        facts = load_facts(session, [contact], ctx.suppression_key)[contact.id]
        member = members_by_contact(session, audience, [contact.id]).get(contact.id)
        rejected = rejected_by_contact(session, [contact.id], NoticeChannel.EMAIL).get(contact.id)
        candidate = NoticeCandidate(
            facts, contact.email, contact.first_name, contact.last_name, member, rejected
        )
    return choose_route(candidate, routes).why
