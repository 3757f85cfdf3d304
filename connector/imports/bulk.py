"""Bulk inserts for large imports, inside the caller's transaction: ``COPY`` on PostgreSQL, the driver's
``executemany`` on SQLite.

SQLAlchemy's per-parameter bind processing costs more than the database itself at a million rows, so
the rows arrive here as tuples already in the driver's terms (:class:`Encoder`): on SQLite a moment is
the text SQLAlchemy's ``DateTime`` stores (naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``) so that both read
and compare alike; on PostgreSQL an aware datetime. JSON is serialised text on both.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

ROWS_PER_CALL = 5_000


class Encoder:
    """Values as the connected driver takes them."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def at(self, moment: datetime | None) -> Any:
        if moment is None or self.postgres:
            return moment
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        text = naive.isoformat(" ")
        return text if naive.microsecond else text + ".000000"

    @staticmethod
    def json(value: object) -> str:
        return json.dumps(value)


def encoder_for(session: Session) -> Encoder:
    return Encoder(session.connection().dialect.name)


def insert_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert the rows (tuples in ``columns`` order); returns how many."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _copy(connection, table, columns, rows)
    return _executemany(connection, table, columns, rows)


def _copy(connection: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    raw = connection.connection.driver_connection
    assert raw is not None
    count = 0
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _executemany(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - our own table and column names
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= ROWS_PER_CALL:
            connection.exec_driver_sql(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        connection.exec_driver_sql(statement, batch)
        count += len(batch)
    return count


def refresh_statistics(session: Session, tables: Sequence[str]) -> None:
    """``ANALYZE`` the tables after a bulk load on PostgreSQL (in the same transaction): without fresh
    statistics the planner may scan a freshly filled table for every later look-up until autovacuum
    gets to it. SQLite needs nothing."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for table in tables:
            connection.exec_driver_sql(f"ANALYZE {table}")
