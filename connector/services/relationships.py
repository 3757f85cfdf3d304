"""Customer relationships: the ground for soft opt-in (P3) and transactional notices (P4)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from connector.core.model import RelationshipKind
from connector.errors import InputError, NotFoundError
from connector.services.contacts import ensure_contact, mark_changed, require_contact
from connector.services.context import AppContext, Origin
from connector.services.history import record_change
from connector.store.engine import unit_of_work
from connector.store.tables import ContactRow, RelationshipRow


@dataclass(frozen=True, slots=True)
class RelationshipInput:
    kind: RelationshipKind
    started_at: datetime
    reference: str | None = None
    categories: frozenset[str] = frozenset()
    service_date: datetime | None = None
    ended_at: datetime | None = None
    opt_out_offered: bool = False
    order_value: Decimal | None = None
    item: str | None = None
    """What it concerns (a concert, a departure, a product)."""


def check_relationship(data: RelationshipInput) -> None:
    if data.service_date is not None and data.service_date < data.started_at:
        raise InputError("--service-date", "is before the purchase/start date")
    if data.ended_at is not None and data.ended_at < data.started_at:
        raise InputError("--ended", "is before the start date")
    if data.order_value is not None and data.order_value < 0:
        raise InputError("--amount", "must not be negative")
    if data.item is not None and not 0 < len(data.item.strip()) <= 200:
        raise InputError("--item", "must be 1 to 200 characters")


def add_relationship(ctx: AppContext, email: str, data: RelationshipInput, origin: Origin) -> RelationshipRow:
    check_relationship(data)
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        contact = ensure_contact(session, ctx, email, origin, now)
        row = upsert_relationship(session, contact, data, origin, now)
        mark_changed(session, ctx, contact, now)
    return row


def upsert_relationship(
    session: Session, contact: ContactRow, data: RelationshipInput, origin: Origin, now: datetime
) -> RelationshipRow:
    """Add the relationship, or update the one with the same kind and reference."""
    row = _find(session, contact.id, data.kind, data.reference) if data.reference else None
    action = "relationship.updated" if row is not None else "relationship.added"
    if row is None:
        row = RelationshipRow(
            id=str(uuid.uuid4()),
            contact_id=contact.id,
            kind=data.kind.value,
            started_at=data.started_at,
            recorded_at=now,
            source=origin.source,
        )
        session.add(row)
    _fill(row, data)
    record_change(session, contact_id=contact.id, origin=origin, action=action, at=now, record=row.id)
    return row


def end_relationship(
    ctx: AppContext, email: str, kind: RelationshipKind, reference: str, ended_at: datetime, origin: Origin
) -> RelationshipRow:
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, email)
        row = _find(session, contact.id, kind, reference)
        if row is None:
            raise NotFoundError("--reference", f"no {kind.value} {reference!r} for this contact")
        if ended_at < row.started_at:
            raise InputError("--at", "is before the relationship started")
        row.ended_at = ended_at
        record_change(
            session, contact_id=contact.id, origin=origin, action="relationship.ended", at=now, record=row.id
        )
        mark_changed(session, ctx, contact, now)
    return row


def _find(
    session: Session, contact_id: str, kind: RelationshipKind, reference: str | None
) -> RelationshipRow | None:
    query = select(RelationshipRow).where(
        RelationshipRow.contact_id == contact_id,  # type: ignore[arg-type]
        RelationshipRow.kind == kind.value,  # type: ignore[arg-type]
        RelationshipRow.reference == reference,  # type: ignore[arg-type]
    )
    row: RelationshipRow | None = session.execute(query).scalar_one_or_none()
    return row


def _fill(row: RelationshipRow, data: RelationshipInput) -> None:
    row.kind = data.kind.value
    row.reference = data.reference
    row.categories = sorted(data.categories)
    row.started_at = data.started_at
    row.service_date = data.service_date
    row.ended_at = data.ended_at
    row.opt_out_offered = data.opt_out_offered
    row.order_value = data.order_value
    row.item = data.item.strip() if data.item is not None else None
