"""Engines and units of work. Built from settings in a composition root, never at import time.

The ORM (SQLModel's session) is imported by :func:`unit_of_work` when it runs: a command that reads
with Core queries on a connection never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlmodel import Session


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, full sync, foreign keys and a busy timeout per connection.

    Bound parameters (names, addresses, free text) never reach a log line or an error message.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=10
    )
    event.listen(engine, "connect", _postgresql_settings)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # FULL, not NORMAL: in WAL mode NORMAL keeps the file consistent but may lose the last commits on a
    # power loss, and a webhook or consent acknowledged after such a commit would be lost for good.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _postgresql_settings(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """PostgreSQL plans every statement for its values, never keeping one generic plan for all.

    psycopg prepares a statement that runs often on a connection, and PostgreSQL may then keep a generic
    plan for it. One made while a table was nearly empty scans the whole table, and keeps scanning as it
    grows while nothing analyzes it (autovacuum off or behind): the webhook writer's key look-up read every
    event ever received for each batch. Planning each statement costs a fraction of a millisecond. Set
    outside any transaction, on each new connection. (psycopg is imported here: SQLite never needs it.)
    """
    import psycopg

    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    finally:
        dbapi_connection.autocommit = autocommit


@contextmanager
def unit_of_work(engine: Engine | Connection) -> Iterator[Session]:
    """One transaction: commit once at the end, roll back on any error.

    On a ``Connection`` (one a long-lived writer holds) the transaction is the connection's own, begun
    and committed here; the connection stays open for the next one.
    """
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def pipelined(session: Session, *, commit: bool = False) -> Iterator[None]:
    """The statements run inside are sent together (psycopg's pipeline mode), not one round trip each.

    For writes whose results nobody reads (no ORM flush inside: it checks row counts). A statement
    that fails surfaces at the latest when the block ends, as the ``SQLAlchemyError`` it would have
    raised alone (``IntegrityError`` for a unique key); the transaction is then lost and its connection
    discarded (a pipeline that failed midway is no state to reuse). Other drivers run them one by one.
    ``commit``: the block ends with the session's commit, whose COMMIT goes out with the statements
    (one round trip for writes and commit); a failure of either raises from the block as above.
    """
    connection = session.connection()
    if connection.dialect.driver != "psycopg":  # checked first: SQLite never imports psycopg
        yield
        _commit_if(session, commit)
        return
    import psycopg

    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        yield
        _commit_if(session, commit)
        return
    try:
        with driver.pipeline():
            yield
            _commit_if(session, commit)
    except psycopg.Error as exc:
        connection.invalidate()
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc
    except BaseException:
        connection.invalidate()
        raise


def _commit_if(session: Session, commit: bool) -> None:
    if commit:
        session.commit()
