"""A webhook batch's rows written through the driver's ``executemany``, not SQLAlchemy's bind processing.

At a thousand events a second, SQLAlchemy's per-row parameter handling of the batch writer's inserts
(a parameter dictionary per row, a bind processor per date-time: ``UTCDateTime`` then the dialect's
``DATETIME``) cost about a fifth of the service's CPU. Here each statement is rendered once per table,
columns and dialect, and each row becomes a tuple of values already in the driver's terms, as SQLAlchemy
itself would store them (``imports.bulk.Encoder``'s rules): on SQLite a moment is naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` (so that it reads and compares as SQLAlchemy's), on PostgreSQL an aware
datetime; JSON is ``json.dumps`` text (cast to ``JSON`` on PostgreSQL). The rows still run in the
caller's transaction (and in its psycopg pipeline), through :meth:`Connection.exec_driver_sql`.
"""

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import JSON, Connection, TableClause

from connector.store.types import UTCDateTime

Encode = Callable[[Any], Any]


def insert_rows(connection: Connection, table: TableClause, rows: Sequence[Mapping[str, object]]) -> None:
    """``INSERT`` the rows (dictionaries, as for ``insert(table)``) in their order: one call per run of
    rows with the same keys (an autoincremented key keeps the order they came in)."""
    postgres = connection.dialect.name == "postgresql"
    for columns, run in groupby(rows, key=tuple):
        same = list(run)
        statement, encoders = _insert(table, columns, postgres)
        values = [tuple([encode(row[name]) for name, encode in encoders]) for row in same]
        connection.exec_driver_sql(statement, values)


def update_rows(
    connection: Connection,
    table: TableClause,
    assignments: Sequence[str],
    conditions: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[object]],
) -> None:
    """``UPDATE table SET <assignments> WHERE <conditions>`` once per row, in one call.

    ``conditions`` are (column, operator) pairs joined by ``AND``; each row holds the values of the
    assignments, then of the conditions, in that order.
    """
    if not rows:
        return
    statement, encoders = _update(
        table, tuple(assignments), tuple(conditions), connection.dialect.name == "postgresql"
    )
    values = [tuple([encode(value) for encode, value in zip(encoders, row, strict=True)]) for row in rows]
    connection.exec_driver_sql(statement, values)


@functools.lru_cache(maxsize=1024)
def utc_text(moment: datetime | None) -> str | None:
    """A moment as SQLite holds a ``UTCDateTime``: naive UTC, always with microseconds."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; consent-sync stores timezone-aware UTC only")
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    text = naive.isoformat(" ")
    return text if naive.microsecond else text + ".000000"


def utc_aware(moment: datetime | None) -> datetime | None:
    """A moment as PostgreSQL takes a ``UTCDateTime``: aware, in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; consent-sync stores timezone-aware UTC only")
    return moment.astimezone(UTC)


def json_text(value: object) -> str:
    return json.dumps(value)


def _same(value: object) -> object:
    return value


def _encoder(table: TableClause, name: str, postgres: bool) -> tuple[Encode, str]:
    """How a value of the column goes to the driver, and its placeholder."""
    kind = table.c[name].type
    placeholder = "%s" if postgres else "?"
    if isinstance(kind, UTCDateTime):
        return (utc_aware if postgres else utc_text), placeholder
    if isinstance(kind, JSON):
        return json_text, "CAST(%s AS JSON)" if postgres else placeholder
    return _same, placeholder


@functools.cache
def _update(
    table: TableClause, assignments: tuple[str, ...], conditions: tuple[tuple[str, str], ...], postgres: bool
) -> tuple[str, tuple[Encode, ...]]:
    encoders: list[Encode] = []
    sets: list[str] = []
    for name in assignments:
        encode, placeholder = _encoder(table, name, postgres)
        encoders.append(encode)
        sets.append(f"{name} = {placeholder}")
    wheres: list[str] = []
    for name, operator in conditions:
        encode, placeholder = _encoder(table, name, postgres)
        encoders.append(encode)
        wheres.append(f"{name} {operator} {placeholder}")
    statement = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {' AND '.join(wheres)}"  # noqa: S608 - our own table and column names
    return statement, tuple(encoders)


@functools.cache
def _insert(
    table: TableClause, columns: tuple[str, ...], postgres: bool
) -> tuple[str, tuple[tuple[str, Encode], ...]]:
    """The statement and each column's encoder, built once per table, columns and dialect."""
    encoders: list[tuple[str, Encode]] = []
    placeholders: list[str] = []
    for name in columns:
        encode, placeholder = _encoder(table, name, postgres)
        encoders.append((name, encode))
        placeholders.append(placeholder)
    names = ", ".join(columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(placeholders)})"  # noqa: S608 - our own table and column names
    return statement, tuple(encoders)
