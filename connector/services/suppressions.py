"""Suppression entries: keyed hashes of addresses that must never be marketed to again."""

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from connector.core.identity import address_hash
from connector.core.model import SuppressionReason
from connector.services.context import Origin
from connector.services.history import record_change
from connector.store.tables import SuppressionRow


def suppress(
    session: Session,
    email: str,
    key: bytes,
    reason: SuppressionReason,
    origin: Origin,
    at: datetime,
    contact_id: str | None = None,
) -> SuppressionRow:
    """Add the entry once per address and reason; a repeat keeps the first date."""
    hashed = address_hash(email, key)
    query = select(SuppressionRow).where(
        SuppressionRow.address_hash == hashed,  # type: ignore[arg-type]
        SuppressionRow.reason == reason.value,  # type: ignore[arg-type]
    )
    existing: SuppressionRow | None = session.execute(query).scalar_one_or_none()
    if existing is not None:
        return existing
    row = SuppressionRow(address_hash=hashed, reason=reason.value, created_at=at, source=origin.source)
    session.add(row)
    record_change(
        session, contact_id=contact_id, origin=origin, action="suppression.added", at=at, reason=reason.value
    )
    return row


def is_suppressed(session: Session, email: str, key: bytes) -> bool:
    hashed = address_hash(email, key)
    query = select(SuppressionRow).where(SuppressionRow.address_hash == hashed)  # type: ignore[arg-type]
    return session.execute(query).first() is not None


def is_erased(session: Session, email: str, key: bytes) -> bool:
    """The address belonged to a person whose data was erased (P7): never re-create them from a feed."""
    hashed = address_hash(email, key)
    query = select(SuppressionRow).where(
        SuppressionRow.address_hash == hashed,  # type: ignore[arg-type]
        SuppressionRow.reason == SuppressionReason.ERASED.value,  # type: ignore[arg-type]
    )
    return session.execute(query).first() is not None
