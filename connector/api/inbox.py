"""The webhook inbox: store Mailchimp events and apply their effects, each inbox row with its effect.

Deliveries are committed in batches (group commit: one transaction for the events queued while the
previous batch committed); each event's inbox row goes in first, with ``ON CONFLICT DO NOTHING`` on the
unique ``dedup_key``, so a duplicate (earlier, concurrent, or earlier in the same batch) is recognised
before anything else is written. Nothing is acknowledged before the commit; a failed batch is retried
one event per transaction, so only the events that fail on their own are refused.
"""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from sqlalchemy import bindparam, select, text, update
from sqlmodel import Session, col

from connector.api.effects import apply_effects
from connector.api.metrics import Metrics
from connector.core.identity import address_hash
from connector.core.model import SuppressionReason
from connector.core.webhook_events import Effect, Rules, WebhookEvent, effects
from connector.services.context import AppContext
from connector.settings import AudienceSettings
from connector.store.engine import unit_of_work
from connector.store.http_tables import ERASED_BODY, WebhookInboxRow
from connector.store.sync_requests import request_sync
from connector.store.sync_tables import AudienceStateRow
from connector.store.tables import SuppressionRow

log = structlog.get_logger("connector.api.inbox")


class Intake(StrEnum):
    APPLIED = "applied"
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook call: the parsed event and the raw body it came in."""

    event: WebhookEvent
    body: bytes


@dataclass(frozen=True, slots=True)
class IntakeReport:
    intake: Intake
    audience: str | None


Answer = IntakeReport | Exception
"""A delivery's report once committed, or why it could not be stored (``SQLAlchemyError``: retry)."""

_SQLITE_WRITER = threading.Lock()
"""SQLite has one writer; queueing here is cheaper than its busy handler's sleeps (up to 100 ms each)."""


def accept_batch(
    ctx: AppContext, deliveries: Sequence[Delivery], metrics: Metrics | None = None
) -> list[Answer]:
    """Store and apply every delivery in ONE transaction (group commit): each inbox row with its effect.

    If that transaction fails, each delivery is retried in a transaction of its own, so one bad event
    fails alone; its answer is then the exception. Nothing is answered before its commit. ``metrics``
    counts the events of each committed transaction and the batches that fell back.
    """
    try:
        return _observed(ctx, deliveries, metrics)
    except Exception as exc:  # any failure: retry one by one, each answers for itself
        if len(deliveries) == 1:
            return [exc]
        log.warning("webhook.batch_failed", size=len(deliveries), error=type(exc).__name__)
    if metrics is not None:
        metrics.webhook_batch_fallbacks.inc()
    return [_alone(ctx, delivery, metrics) for delivery in deliveries]


def _alone(ctx: AppContext, delivery: Delivery, metrics: Metrics | None) -> Answer:
    try:
        return _observed(ctx, [delivery], metrics)[0]
    except Exception as exc:  # the caller answers for this delivery alone
        return exc


def _observed(ctx: AppContext, deliveries: Sequence[Delivery], metrics: Metrics | None) -> list[Answer]:
    reports: list[Answer] = list(_commit(ctx, deliveries))
    if metrics is not None:
        metrics.webhook_batch_size.observe(len(deliveries))
    return reports


def _commit(ctx: AppContext, deliveries: Sequence[Delivery]) -> list[IntakeReport]:
    now = ctx.now()
    with _one_writer(ctx), unit_of_work(ctx.engine) as session:
        accepted = [_accept(session, ctx, delivery, now) for delivery in deliveries]
        reports = [report for report, _ in accepted]
        for audience in sorted({r.audience for r in reports if r.intake is Intake.APPLIED and r.audience}):
            request_sync(session, audience, now)  # once per audience and batch, after every effect
        stored = [(row, d.event.email) for (_, row), d in zip(accepted, deliveries, strict=True) if row]
        _scrub_erased(session, ctx.suppression_key, stored)
    return reports


@contextmanager
def _one_writer(ctx: AppContext) -> Iterator[None]:
    if ctx.engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        yield


def _accept(
    session: Session, ctx: AppContext, delivery: Delivery, now: datetime
) -> tuple[IntakeReport, int | None]:
    """The report and the inbox row's id (``None`` for a duplicate).

    The inbox row first: a duplicate (earlier, concurrent, or earlier in this batch) stops there.
    """
    event = delivery.event
    audience = audience_for(session, ctx, event.list_id)
    found = _effects(ctx, event, audience, now)
    expected = Intake.APPLIED if found else Intake.RECORDED
    inbox_id = _insert(session, delivery, now, expected)
    if inbox_id is None:
        return IntakeReport(Intake.DUPLICATE, None), None
    applied = audience is not None and apply_effects(session, ctx, event, found, audience.name, now)
    if expected is Intake.APPLIED and not applied:
        _set_outcome(session, inbox_id, Intake.RECORDED)
    intake = Intake.APPLIED if applied else Intake.RECORDED
    return IntakeReport(intake, audience.name if audience else None), inbox_id


def _effects(
    ctx: AppContext, event: WebhookEvent, audience: AudienceSettings | None, now: datetime
) -> tuple[Effect, ...]:
    if audience is None:
        return ()
    rules = Rules(
        purposes=audience.purposes,
        merge_fields=audience.merge_fields,
        unsubscribe_means=ctx.settings.policy.mailchimp_unsubscribe_means,
        trust_signup_forms=ctx.settings.policy.trust_mailchimp_signup_forms,
    )
    return effects(event, rules, now)


def _insert(session: Session, delivery: Delivery, now: datetime, outcome: Intake) -> int | None:
    """The inbox row's id, or ``None`` when its ``dedup_key`` is already there (a duplicate)."""
    event = delivery.event
    values = {
        "dedup_key": event.dedup_key,
        "type": event.type.value,
        "list_id": event.list_id,
        "fired_at": event.fired_at,
        "received_at": now,
        "processed": True,
        "outcome": outcome.value,
        "body": delivery.body.decode("utf-8"),
    }
    row = session.connection().execute(_INSERT_UNLESS_KNOWN, values).first()
    return None if row is None else int(row[0])


_TABLE = WebhookInboxRow.__table__  # type: ignore[attr-defined]
_COLUMNS = ("dedup_key", "type", "list_id", "fired_at", "received_at", "processed", "outcome", "body")
_INSERT_UNLESS_KNOWN = text(
    "INSERT INTO webhook_inbox (dedup_key, type, list_id, fired_at, received_at, processed, outcome, body) "
    "VALUES (:dedup_key, :type, :list_id, :fired_at, :received_at, :processed, :outcome, :body) "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
).bindparams(*(bindparam(c, type_=_TABLE.c[c].type) for c in _COLUMNS))
"""A duplicate returns no row and raises nothing, so it never aborts the batch it arrives in. On
PostgreSQL a concurrent insert of the same key waits for the other transaction and returns no row if it
committed. Text (same SQL on SQLite and PostgreSQL, typed parameters): SQLAlchemy does not cache the
compiled form of its dialect ``on_conflict_do_nothing`` constructs, and compiling costs more than running.
"""


def _scrub_erased(session: Session, key: bytes, stored: Sequence[tuple[int, str | None]]) -> None:
    """Events about an erased person: keep that they came (for de-duplication), not what they said.

    One query for the batch, without flushing it: only an erasure writes the ``erased`` reason.
    """
    by_hash: dict[str, list[int]] = {}
    for inbox_id, email in stored:
        if email:
            by_hash.setdefault(address_hash(email, key), []).append(inbox_id)
    if not by_hash:
        return
    connection = session.connection()
    erased = connection.execute(_ERASED, {"hashes": list(by_hash)}).scalars()
    ids = [inbox_id for hashed in erased for inbox_id in by_hash[hashed]]
    if ids:
        connection.execute(_SCRUB, {"ids": ids})


_SUPPRESSIONS = SuppressionRow.__table__  # type: ignore[attr-defined]
_ERASED = select(_SUPPRESSIONS.c.address_hash).where(
    _SUPPRESSIONS.c.address_hash.in_(bindparam("hashes", expanding=True)),
    _SUPPRESSIONS.c.reason == SuppressionReason.ERASED.value,
)
_SCRUB = update(_TABLE).where(_TABLE.c.id.in_(bindparam("ids", expanding=True))).values(body=ERASED_BODY)


def _set_outcome(session: Session, inbox_id: int, outcome: Intake) -> None:
    statement = (
        update(WebhookInboxRow).where(col(WebhookInboxRow.id) == inbox_id).values(outcome=outcome.value)
    )
    session.execute(statement)


def audience_for(session: Session, ctx: AppContext, list_id: str | None) -> AudienceSettings | None:
    """The configured audience whose Mailchimp list is ``list_id`` (settings first, then the store)."""
    if not list_id:
        return None
    for audience in ctx.settings.audiences:
        if audience.list_id == list_id:
            return audience
    key = (str(ctx.engine.url), list_id)
    name = _LIST_AUDIENCES.get(key)
    if name is None:
        query = select(col(AudienceStateRow.audience)).where(col(AudienceStateRow.list_id) == list_id)
        name = session.execute(query).scalars().first()
        if name is not None:
            _LIST_AUDIENCES[key] = name
    known = {a.name: a for a in ctx.settings.audiences}
    return known.get(name) if name else None


_LIST_AUDIENCES: dict[tuple[str, str], str] = {}
"""Mailchimp list id → audience name, as the store recorded it (a list id never moves to another audience)."""
