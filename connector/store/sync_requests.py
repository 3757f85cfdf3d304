"""Ask the daemon for a prompt sync of an audience: one ``sync_requests`` row per audience, upserted."""

from datetime import datetime

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from connector.store.http_tables import SyncRequestRow


def request_sync(session: Session, audience: str, at: datetime) -> None:
    """Insert or refresh the audience's request; concurrent callers never conflict."""
    connection = session.connection()  # Core, not the ORM's bulk path: one cached statement
    table = SyncRequestRow.__table__  # type: ignore[attr-defined]
    statement: Insert
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(table)
        statement = pg.on_conflict_do_update(
            index_elements=["audience"], set_={"requested_at": pg.excluded.requested_at}
        )
    else:
        lite = sqlite.insert(table)
        statement = lite.on_conflict_do_update(
            index_elements=["audience"], set_={"requested_at": lite.excluded.requested_at}
        )
    connection.execute(statement, {"audience": audience, "requested_at": at})
