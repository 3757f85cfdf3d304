"""Ask the daemon for a prompt sync of an audience: one ``sync_requests`` row per audience, upserted."""

from datetime import datetime

from sqlalchemy import bindparam, text
from sqlmodel import Session

from connector.store.http_tables import SyncRequestRow


def request_sync(session: Session, audience: str, at: datetime) -> None:
    """Insert or refresh the audience's request; concurrent callers never conflict."""
    session.connection().execute(_UPSERT, {"audience": audience, "requested_at": at})


_TABLE = SyncRequestRow.__table__  # type: ignore[attr-defined]
_UPSERT = text(
    "INSERT INTO sync_requests (audience, requested_at) VALUES (:audience, :requested_at) "
    "ON CONFLICT (audience) DO UPDATE SET requested_at = excluded.requested_at"
).bindparams(*(bindparam(c, type_=_TABLE.c[c].type) for c in ("audience", "requested_at")))
"""Text (the same SQL on SQLite and PostgreSQL, typed parameters): SQLAlchemy does not cache the compiled
form of its dialect ``on_conflict_do_update`` constructs, and compiling costs more than running."""
