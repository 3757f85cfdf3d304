"""Count a hit against a rate-limited key, atomically, in the database (fixed windows)."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlmodel import Session

from connector.store.capture_tables import CaptureLimitRow


def count_hit(session: Session, key: str, now: datetime, window: timedelta) -> tuple[datetime, int]:
    """Count one hit for ``key``: its window's start and the hits in it, this one included.

    A window that ended by ``now`` starts afresh at ``now``. One statement: concurrent callers (threads,
    workers, hosts) each get their own count, never the same one.
    """
    values = {"key": key, "now": now, "expired": now - window}
    started, hits = session.connection().execute(_COUNT, values).one()
    return started, int(hits)


_TABLE = CaptureLimitRow.__table__  # type: ignore[attr-defined]
_AT = _TABLE.c["window_started_at"].type
_COUNT = (
    text(
        "INSERT INTO capture_limits (key, window_started_at, hits) VALUES (:key, :now, 1) "
        "ON CONFLICT (key) DO UPDATE SET "
        "hits = CASE WHEN capture_limits.window_started_at <= :expired THEN 1 "
        "ELSE capture_limits.hits + 1 END, "
        "window_started_at = CASE WHEN capture_limits.window_started_at <= :expired THEN :now "
        "ELSE capture_limits.window_started_at END "
        "RETURNING window_started_at, hits"
    )
    .bindparams(
        bindparam("key", type_=_TABLE.c["key"].type),
        bindparam("now", type_=_AT),
        bindparam("expired", type_=_AT),
    )
    .columns(_TABLE.c["window_started_at"], _TABLE.c["hits"])
)
"""Text (the same SQL on SQLite and PostgreSQL, typed parameters), as ``sync_requests``' upsert."""
