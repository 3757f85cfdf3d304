"""The webhook inbox: store a Mailchimp event and apply its effect in one transaction.

The inbox row goes in first, so a concurrent duplicate meets the unique ``dedup_key`` before anything
else is written; it then rolls back and is answered as a duplicate. Nothing is acknowledged before
the commit.
"""

import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from connector.api.effects import apply_effects
from connector.core.webhook_events import Effect, Rules, WebhookEvent, effects
from connector.services.context import AppContext
from connector.services.suppressions import is_erased
from connector.settings import AudienceSettings
from connector.store.engine import unit_of_work
from connector.store.http_tables import ERASED_BODY, WebhookInboxRow
from connector.store.sync_tables import AudienceStateRow

log = structlog.get_logger("connector.api.inbox")


class Intake(StrEnum):
    APPLIED = "applied"
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


class _DuplicateError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class IntakeReport:
    intake: Intake
    audience: str | None


_SQLITE_WRITER = threading.Lock()
"""SQLite has one writer; queueing here is cheaper than its busy handler's sleeps (up to 100 ms each)."""


def accept_event(ctx: AppContext, event: WebhookEvent, body: bytes) -> IntakeReport:
    """Store and apply ``event``; ``DUPLICATE`` if it was accepted before. Raises if the commit fails."""
    if ctx.engine.dialect.name == "sqlite":
        with _SQLITE_WRITER:
            return _accept(ctx, event, body)
    return _accept(ctx, event, body)


def _accept(ctx: AppContext, event: WebhookEvent, body: bytes) -> IntakeReport:
    now = ctx.now()
    try:
        with unit_of_work(ctx.engine) as session:
            audience = audience_for(session, ctx, event.list_id)
            found = _effects(ctx, event, audience, now)
            expected = Intake.APPLIED if found else Intake.RECORDED
            inbox_id = _insert(session, event, body, now, expected)
            applied = audience is not None and apply_effects(session, ctx, event, found, audience.name, now)
            if expected is Intake.APPLIED and not applied:
                _set_outcome(session, inbox_id, Intake.RECORDED)
            if event.email and is_erased(session, event.email, ctx.suppression_key):
                _scrub(session, inbox_id)
    except _DuplicateError:
        return IntakeReport(Intake.DUPLICATE, None)
    return IntakeReport(Intake.APPLIED if applied else Intake.RECORDED, audience.name if audience else None)


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


def _insert(session: Session, event: WebhookEvent, body: bytes, now: datetime, outcome: Intake) -> int:
    """The inbox row, first in the transaction: a duplicate stops at the unique key before any effect."""
    values = {
        "dedup_key": event.dedup_key,
        "type": event.type.value,
        "list_id": event.list_id,
        "fired_at": event.fired_at,
        "received_at": now,
        "processed": True,
        "outcome": outcome.value,
        "body": body.decode("utf-8"),
    }
    try:
        result = session.connection().execute(_INSERT_INBOX, values)
    except IntegrityError:
        raise _DuplicateError from None
    return int(result.scalar_one())


_INSERT_INBOX = insert(WebhookInboxRow.__table__).returning(WebhookInboxRow.__table__.c.id)  # type: ignore[attr-defined]


def _scrub(session: Session, inbox_id: int) -> None:
    """The event concerns an erased person: keep that it came (for de-duplication), not what it said."""
    table = WebhookInboxRow.__table__  # type: ignore[attr-defined]
    session.connection().execute(update(table).where(table.c.id == inbox_id).values(body=ERASED_BODY))


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
