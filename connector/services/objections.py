"""Objections to direct marketing (GDPR Art. 21(3)): absolute for their scope."""

import uuid
from datetime import datetime

from sqlmodel import Session

from connector.core.model import Channel
from connector.errors import InputError
from connector.services.contacts import ensure_contact, mark_changed
from connector.services.context import AppContext, Origin
from connector.services.history import record_change
from connector.store.engine import unit_of_work
from connector.store.tables import ContactRow, ObjectionRow


def record_objection(
    ctx: AppContext,
    email: str,
    origin: Origin,
    *,
    occurred_at: datetime,
    purpose: str | None = None,
    channel: Channel | None = None,
    reason: str | None = None,
) -> ObjectionRow:
    if purpose is not None and ctx.settings.policy.purpose(purpose) is None:
        raise InputError("--purpose", f"unknown purpose {purpose!r}")
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        contact = ensure_contact(session, ctx, email, origin, now)
        row = add_objection(session, contact, origin, now, occurred_at, purpose, channel, reason)
        mark_changed(session, ctx, contact, now)
    return row


def add_objection(
    session: Session,
    contact: ContactRow,
    origin: Origin,
    now: datetime,
    occurred_at: datetime,
    purpose: str | None,
    channel: Channel | None,
    reason: str | None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ObjectionRow:
    """The objection row, and its history entry (which names the row, never its evidence).

    ``ip`` and ``user_agent``: the browser's, when the person objected on a page of ours (evidence, as a
    consent's; shown to the person and exported, never logged)."""
    row = ObjectionRow(
        id=str(uuid.uuid4()),
        contact_id=contact.id,
        occurred_at=occurred_at,
        recorded_at=now,
        purpose=purpose,
        channel=channel.value if channel else None,
        reason=reason,
        source=origin.source,
        ip=ip,
        user_agent=user_agent,
    )
    session.add(row)
    record_change(
        session, contact_id=contact.id, origin=origin, action="objection.recorded", at=now, record=row.id
    )
    return row
