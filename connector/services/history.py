"""The append-only history: every change, who made it, through what, and what changed.

Details name fields and record ids, never the values of personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from connector.services.context import Origin
from connector.store import core_tables

if TYPE_CHECKING:
    from sqlmodel import Session


def record_change(
    session: Session,
    *,
    contact_id: str | None,
    origin: Origin,
    action: str,
    at: datetime,
    **detail: object,
) -> None:
    add_change(session, change_values(contact_id=contact_id, origin=origin, action=action, at=at, **detail))


def add_change(session: Session, values: dict[str, object]) -> None:
    """One history row from :func:`change_values`, through the session (in order with its other rows)."""
    from connector.store.tables import HistoryRow  # the ORM only for a session's rows

    columns: dict[str, Any] = dict(values)
    session.add(HistoryRow(**columns))


def change_values(
    *, contact_id: str | None, origin: Origin, action: str, at: datetime, **detail: object
) -> dict[str, object]:
    """One history row as column values, for :func:`record_changes`."""
    return {
        "contact_id": contact_id,
        "occurred_at": at,
        "actor": origin.actor,
        "source": origin.source,
        "action": action,
        "detail": dict(detail),
    }


def record_changes(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Several history rows in one statement, without building ORM objects (hot paths)."""
    if rows:
        insert_changes(session.connection(), rows)


def insert_changes(connection: Connection, rows: Sequence[dict[str, object]]) -> None:
    """History rows (as :func:`change_values`) in one Core statement on a connection."""
    if rows:
        connection.execute(_INSERT_HISTORY, list(rows))


_INSERT_HISTORY = insert(core_tables.history).inline()
"""``inline``: no RETURNING of the generated key (nobody reads it), so it can run in a pipeline."""
