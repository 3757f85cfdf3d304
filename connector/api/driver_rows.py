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

from sqlalchemy import JSON, Boolean, Connection, Integer, TableClause

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
        if postgres:
            _in_one_statement(connection, statement, values)
        else:
            connection.exec_driver_sql(statement, values)


def _in_one_statement(connection: Connection, statement: str, rows: list[tuple[object, ...]]) -> None:
    """PostgreSQL: ``statement``'s one ``VALUES`` row repeated for all the rows (``ROWS_PER_STATEMENT``
    at a time), so the server answers once: psycopg's ``executemany`` sends a statement per row, and
    reading their answers in its pipeline cost more of the service's CPU than the rest of the batch."""
    head, _, row = statement.rpartition(" VALUES ")
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        flat = tuple(value for values in part for value in values)
        _execute_numbered(connection, f"{head} VALUES {', '.join([row] * len(part))}", flat)


ROWS_PER_STATEMENT = 500
"""Rows of one multi-row statement on PostgreSQL (its parameters stay far below the protocol's 65,535)."""


def _execute_numbered(connection: Connection, statement: str, parameters: tuple[object, ...]) -> None:
    """PostgreSQL: ``statement`` with its ``%s`` numbered ``$1, $2, …`` once per text (``_numbered``),
    run through SQLAlchemy (its events, its errors) on a ``psycopg.RawCursor``, which sends the text as
    it is. A multi-row statement is too long for psycopg's cache of converted queries, and converting
    it on every call (a Python scan of the text for placeholders) cost more than the rows' values."""
    import psycopg  # PostgreSQL only: SQLite never imports it

    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    factory = driver.cursor_factory
    driver.cursor_factory = psycopg.RawCursor
    try:
        connection.exec_driver_sql(_numbered(statement), parameters)
    finally:
        driver.cursor_factory = factory


@functools.lru_cache(maxsize=512)
def _numbered(statement: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$n`` (our statements hold no other ``%``)."""
    parts = statement.split("%s")
    return "".join(f"{part}${number}" for number, part in enumerate(parts[:-1], 1)) + parts[-1]


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
    postgres = connection.dialect.name == "postgresql"
    statement, encoders = _update(table, tuple(assignments), tuple(conditions), postgres)
    values = [tuple([encode(value) for encode, value in zip(encoders, row, strict=True)]) for row in rows]
    if postgres and _each_row_once(assignments, conditions, values):
        _update_in_one_statement(connection, table, tuple(assignments), tuple(conditions), values)
        return
    connection.exec_driver_sql(statement, values)


def _each_row_once(
    assignments: Sequence[str], conditions: Sequence[tuple[str, str]], values: list[tuple[object, ...]]
) -> bool:
    """Whether no two rows name the same row by their ``=`` conditions: an ``UPDATE … FROM (VALUES …)``
    updates a row once, with one of the rows that name it, where statements one per row apply them all
    in order."""
    at = [len(assignments) + i for i, (_, operator) in enumerate(conditions) if operator == "="]
    if not at:
        return False
    keys = {tuple(row[i] for i in at) for row in values}
    return len(keys) == len(values)


def _update_in_one_statement(
    connection: Connection,
    table: TableClause,
    assignments: tuple[str, ...],
    conditions: tuple[tuple[str, str], ...],
    rows: list[tuple[object, ...]],
) -> None:
    """PostgreSQL: ``UPDATE … FROM (VALUES …)``, ``ROWS_PER_STATEMENT`` rows at a time."""
    head, row = _update_from_values(table, assignments, conditions)
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        flat = tuple(value for values in part for value in values)
        _execute_numbered(connection, head.format(", ".join([row] * len(part))), flat)


@functools.cache
def _update_from_values(
    table: TableClause, assignments: tuple[str, ...], conditions: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    """The statement (``{}`` where the ``VALUES`` rows go) and one row of typed placeholders (a
    ``VALUES`` list takes its columns' types from its rows, so each is cast to its column's)."""
    names = [*assignments, *(name for name, _ in conditions)]
    casts = [f"CAST(%s AS {_pg_type(table, name)})" for name in names]
    sets = ", ".join(f"{name} = v.p{i}" for i, name in enumerate(assignments))
    offset = len(assignments)
    wheres = " AND ".join(
        f"t.{name} {operator} v.p{offset + i}" for i, (name, operator) in enumerate(conditions)
    )
    parameters = ", ".join(f"p{i}" for i in range(len(names)))
    statement = f"UPDATE {table.name} AS t SET {sets} FROM (VALUES {{}}) AS v({parameters}) WHERE {wheres}"  # noqa: S608 - our own table and column names
    return statement, f"({', '.join(casts)})"


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


def _pg_type(table: TableClause, name: str) -> str:
    """The column's PostgreSQL type for a cast; text without a length (a cast to ``VARCHAR(n)`` would
    cut a longer value where the column refuses it)."""
    kind = table.c[name].type
    if isinstance(kind, UTCDateTime):
        return "TIMESTAMP WITH TIME ZONE"
    if isinstance(kind, JSON):
        return "JSON"
    if isinstance(kind, Boolean):
        return "BOOLEAN"
    if isinstance(kind, Integer):
        return "INTEGER"
    return "TEXT"


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
