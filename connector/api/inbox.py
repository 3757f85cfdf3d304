"""The webhook inbox: store Mailchimp events and apply their effects, each inbox row with its effect.

Deliveries are committed in batches (group commit: one transaction for the events queued while the
previous batch committed), set-based: one statement reads the batch's keys already in the inbox (a
duplicate, earlier or earlier in the same batch, stops there), its erased addresses and its contacts
(as values, no ORM objects), the effects are applied in arrival order in memory, and each table is
written in one statement (on PostgreSQL all of them in one pipeline). Nothing is acknowledged
before the commit. A batch that fails on the unique ``dedup_key`` (a key a concurrent process committed
meanwhile) runs once more and finds that key; any other failed batch is retried one event per
transaction, so only the events that fail on their own are refused.
"""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    bindparam,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from connector.api.driver_rows import insert_rows
from connector.api.effects import CONTACT_COLUMNS, Batch, apply_effects, loaded_contact
from connector.api.metrics import Metrics
from connector.core.identity import address_hash
from connector.core.model import SuppressionReason
from connector.core.webhook_events import Effect, Rules, WebhookEvent, clock_checked, effects
from connector.services.contacts import LoadedContact
from connector.services.context import AppContext
from connector.settings import AudienceSettings
from connector.store.engine import pipelined, unit_of_work
from connector.store.http_tables import ERASED_BODY, WebhookInboxRow
from connector.store.sync_requests import request_sync
from connector.store.sync_tables import AudienceMoveRow, AudienceStateRow
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

Bind = Engine | Connection
"""Where a batch's transaction runs: the inbox writer's own connection, or the engine's pool."""

_SQLITE_WRITER = threading.Lock()
"""SQLite has one writer; queueing here is cheaper than its busy handler's sleeps (up to 100 ms each)."""


def accept_batch(
    ctx: AppContext,
    deliveries: Sequence[Delivery],
    metrics: Metrics | None = None,
    connection: Connection | None = None,
) -> list[Answer]:
    """Store and apply every delivery in ONE transaction (group commit): each inbox row with its effect.

    If that transaction fails, each delivery is retried in a transaction of its own, so one bad event
    fails alone; its answer is then the exception. Nothing is answered before its commit. ``metrics``
    counts the events of each committed transaction and the batches that fell back. ``connection``: the
    writer's own (no pool checkout, no pre-ping per batch); the engine's pool otherwise.
    """
    bind = connection if connection is not None else ctx.engine
    try:
        return _observed_again_on_conflict(ctx, bind, deliveries, metrics)
    except Exception as exc:  # any failure: retry one by one, each answers for itself
        if len(deliveries) == 1:
            return [exc]
        log.warning("webhook.batch_failed", size=len(deliveries), error=type(exc).__name__)
    if metrics is not None:
        metrics.webhook_batch_fallbacks.inc()
    return [_alone(ctx, bind, delivery, metrics) for delivery in deliveries]


def _alone(ctx: AppContext, bind: Bind, delivery: Delivery, metrics: Metrics | None) -> Answer:
    try:
        return _observed_again_on_conflict(ctx, bind, [delivery], metrics)[0]
    except Exception as exc:  # the caller answers for this delivery alone
        return exc


def _observed_again_on_conflict(
    ctx: AppContext, bind: Bind, deliveries: Sequence[Delivery], metrics: Metrics | None
) -> list[Answer]:
    """:func:`_observed`, once more after a unique-key conflict.

    A conflict means another process (a second ``serve`` worker) committed one of these keys while this
    transaction ran: PostgreSQL fails the insert only once that transaction has committed, so the second
    attempt finds the key and answers duplicate instead of 503 (or a fall-back to one event per
    transaction). A conflict that persists fails the second attempt too.
    """
    try:
        return _observed(ctx, bind, deliveries, metrics)
    except IntegrityError:
        log.info("webhook.batch_conflict", size=len(deliveries))
    return _observed(ctx, bind, deliveries, metrics)


def _observed(
    ctx: AppContext, bind: Bind, deliveries: Sequence[Delivery], metrics: Metrics | None
) -> list[Answer]:
    reports: list[Answer] = list(_commit(ctx, bind, deliveries))
    if metrics is not None:
        metrics.webhook_batch_size.observe(len(deliveries))
    return reports


def _commit(ctx: AppContext, bind: Bind, deliveries: Sequence[Delivery]) -> list[IntakeReport]:
    """One transaction, a constant number of statements: one read (:func:`_stored`), a write per table."""
    now = ctx.now()
    with _one_writer(ctx), unit_of_work(bind) as session:
        stored = _stored(session, ctx.suppression_key, [d.event for d in deliveries])
        fresh = _first_of_each_new_key(stored.keys, deliveries)
        audiences = {i: audience_for(session, ctx, deliveries[i].event.list_id) for i in fresh}
        erased = stored.erased
        batch = Batch(session, ctx, now, stored.contacts, erased)  # the contacts' changes: Core updates
        reports, rows = [], []
        for index, delivery in enumerate(deliveries):
            if index not in fresh:
                reports.append(IntakeReport(Intake.DUPLICATE, None))
                continue
            report = _accept(batch, delivery, audiences[index])
            reports.append(report)
            rows.append(_inbox_row(delivery, report.intake, now, delivery.event.email in erased))
        session.flush()  # the contacts the events changed; then the rest, sent together
        with pipelined(session, commit=True):  # PostgreSQL: the writes and the COMMIT in one round trip
            batch.write_values()
            _insert(session, rows)
            for audience in _applied_audiences(reports):
                request_sync(session, audience, now)  # once per audience and batch, after every effect
    return reports


def _applied_audiences(reports: Sequence[IntakeReport]) -> list[str]:
    return sorted({r.audience for r in reports if r.intake is Intake.APPLIED and r.audience})


@contextmanager
def _one_writer(ctx: AppContext) -> Iterator[None]:
    if ctx.engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        yield


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the store already holds for a batch, read in one statement (:func:`_stored`)."""

    keys: frozenset[str]
    """The batch's dedup keys already in the inbox."""
    erased: frozenset[str]
    """The batch's addresses of erased people."""
    contacts: dict[str, LoadedContact | None]
    """Every address the batch's events may look a contact up by, and its contact if there is one."""


def _stored(session: Session, key: bytes, events: Sequence[WebhookEvent]) -> _Stored:
    """Known keys, erased addresses and contacts in one statement (one round trip on any database).

    It reads for every event of the batch, duplicates too (a superset: only the fresh ones use it).
    """
    addresses = _addresses(events)
    by_hash = {address_hash(e.email, key): e.email for e in events if e.email}
    parameters = {
        "keys": sorted({e.dedup_key for e in events}),
        "hashes": sorted(by_hash),
        "emails": sorted(addresses),
    }
    keys, erased = set(), set()
    contacts: dict[str, LoadedContact | None] = dict.fromkeys(addresses)
    for kind, *values in session.connection().execute(_STORED, parameters):
        if kind == _CONTACT:
            contact = loaded_contact(values)
            contacts[contact.email or ""] = contact
        elif kind == _KNOWN_KEY:
            keys.add(values[_VALUE])
        else:
            erased.add(by_hash[values[_VALUE]])
    return _Stored(frozenset(keys), frozenset(erased), contacts)


def _first_of_each_new_key(known_keys: frozenset[str], deliveries: Sequence[Delivery]) -> set[int]:
    """Indexes of the deliveries to apply: not in the inbox yet, and the first of the batch with their key.

    A key another process inserts meanwhile (PostgreSQL) fails the batch on the unique constraint at
    :func:`_insert`; the batch's second attempt then finds it here and answers duplicate.
    """
    known = set(known_keys)
    fresh: set[int] = set()
    for index, delivery in enumerate(deliveries):
        if delivery.event.dedup_key not in known:
            known.add(delivery.event.dedup_key)
            fresh.add(index)
    return fresh


def _addresses(events: Sequence[WebhookEvent]) -> set[str]:
    """Every address the batch's events may look a contact up by."""
    return {a for e in events for a in (e.email, e.old_email) if a}


def _accept(batch: Batch, delivery: Delivery, audience: AudienceSettings | None) -> IntakeReport:
    event = _clock_checked(batch.ctx, delivery.event, batch.now)
    found = _effects(batch.ctx, event, audience, batch.now)
    applied = audience is not None and apply_effects(batch, event, found, audience.name)
    intake = Intake.APPLIED if applied else Intake.RECORDED
    return IntakeReport(intake, audience.name if audience else None)


def _clock_checked(ctx: AppContext, event: WebhookEvent, now: datetime) -> WebhookEvent:
    """``fired_at`` beyond the clock tolerance is taken as the receive time, with a warning (no address)."""
    checked = clock_checked(event, now, ctx.settings.webhooks.clock_tolerance_seconds)
    if checked != event:
        ahead = (event.fired_at or event.timestamp_opt or now) - now
        log.warning("webhook.clock_ahead", type=event.type.value, ahead_seconds=int(ahead.total_seconds()))
    return checked


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
        policy=ctx.settings.policy,
        interests=audience.interests,
        signup_purposes=audience.mailchimp_signup_purposes,
        notice_version=audience.mailchimp_notice_version,
    )
    return effects(event, rules, now)


def _inbox_row(delivery: Delivery, outcome: Intake, now: datetime, erased: bool) -> dict[str, object]:
    """The inbox row; for an erased person it keeps that the event came (de-duplication), not what it said."""
    event = delivery.event
    return {
        "dedup_key": event.dedup_key,
        "type": event.type.value,
        "list_id": event.list_id,
        "fired_at": event.fired_at,
        "received_at": now,
        "processed": True,
        "outcome": outcome.value,
        "body": ERASED_BODY if erased else delivery.body.decode("utf-8"),
    }


def _insert(session: Session, rows: list[dict[str, object]]) -> None:
    insert_rows(session.connection(), _TABLE, rows)


_TABLE = WebhookInboxRow.__table__  # type: ignore[attr-defined]
_SUPPRESSIONS = SuppressionRow.__table__  # type: ignore[attr-defined]
_CONTACT, _KNOWN_KEY, _ERASED_HASH = "c", "k", "e"
_VALUE = 1
"""A key or hash row carries its value in the contact columns' second place (``email``, a string)."""


def _tagged(kind: str, value: ColumnElement[str] | None = None) -> list[ColumnElement[Any]]:
    """The columns of one part of :data:`_STORED`: its kind, then the contact columns or one value."""
    if value is None:
        return [literal_column(f"'{kind}'").label("kind"), *CONTACT_COLUMNS]
    columns: list[ColumnElement[Any]] = [null()] * len(CONTACT_COLUMNS)
    columns[_VALUE] = value
    return [literal_column(f"'{kind}'"), *columns]


_STORED = union_all(
    select(*_tagged(_CONTACT)).where(CONTACT_COLUMNS[_VALUE].in_(bindparam("emails", expanding=True))),
    select(*_tagged(_KNOWN_KEY, _TABLE.c.dedup_key)).where(
        _TABLE.c.dedup_key.in_(bindparam("keys", expanding=True))
    ),
    select(*_tagged(_ERASED_HASH, _SUPPRESSIONS.c.address_hash)).where(
        _SUPPRESSIONS.c.address_hash.in_(bindparam("hashes", expanding=True)),
        _SUPPRESSIONS.c.reason == SuppressionReason.ERASED.value,
    ),
)
"""The batch's contacts, its keys already in the inbox, and its erased addresses' hashes, tagged by kind."""


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
        name = session.execute(query).scalars().first() or _moved_from(session, list_id)
        if name is not None:
            _LIST_AUDIENCES[key] = name
    known = {a.name: a for a in ctx.settings.audiences}
    return known.get(name) if name else None


def _moved_from(session: Session, list_id: str) -> str | None:
    """The audience that was bound to ``list_id`` before a move: what people do there still counts."""
    query = select(col(AudienceMoveRow.audience)).where(col(AudienceMoveRow.from_list_id) == list_id)
    return session.execute(query.order_by(col(AudienceMoveRow.moved_at).desc())).scalars().first()


_LIST_AUDIENCES: dict[tuple[str, str], str] = {}
"""Mailchimp list id → audience name, as the store recorded it (a list id never moves to another audience)."""
