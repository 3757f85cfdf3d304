"""Statements on the DBAPI cursor of a session's connection, for the sync engine's hot paths.

SQLAlchemy's per-row parameter and result handling (``construct_params``, a type processor per value)
cost more than the database itself on the statements a sync runs once per contact. Here the SQL is
written for both dialects (SQLite and PostgreSQL, placeholders aside) and values are converted once,
by hand, exactly as the column types would: UTC date-times (naive text on SQLite, ``timestamptz`` on
PostgreSQL, see :class:`~connector.store.types.UTCDateTime`), JSON (text on SQLite, decoded by psycopg
on PostgreSQL) and booleans. The cursor is the session's own: the statements are in its transaction.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:  # not at run time: a one-contact command reads facts without loading the ORM
    from sqlalchemy.orm import Session

IN_CHUNK = 500
"""Values per ``IN (…)`` list: far below both databases' limits on bound parameters."""


_encode = json.JSONEncoder().encode
"""``json.dumps`` with its defaults, without its per-call keyword checks."""
_STORED = len("2026-01-01 00:00:00.000000")
"""The text SQLAlchemy's SQLite ``DATETIME`` writes (and :meth:`Raw.at`)."""
_INSERT = "INSERT INTO {table} ({names}) VALUES ({values})"
_COPY = "COPY {table} ({names}) FROM STDIN"


class Raw:
    """The DBAPI cursor of a session (or connection) and the conversions its dialect needs."""

    def __init__(self, reader: "Session | Connection") -> None:
        connection = reader if isinstance(reader, Connection) else reader.connection()
        self.sqlite = connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        self._dbapi: Any = dbapi

    def marks(self, count: int) -> str:
        """``count`` placeholders, comma-separated (an ``IN`` list or a ``VALUES`` row)."""
        return ", ".join([self.mark] * count)

    def sql(self, template: str, count: int = 0) -> str:
        """``template`` with ``{m}`` a placeholder and ``{in}`` ``count`` of them, comma-separated."""
        return template.format(m=self.mark, **{"in": self.marks(count)})

    def rows(self, template: str, params: Sequence[Any] = (), count: int = 0) -> list[tuple[Any, ...]]:
        """The rows of one query, as the driver returns them (convert with :meth:`at` and the rest)."""
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self.sql(template, count), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def rows_in(self, template: str, params: Sequence[Any], values: Iterable[Any]) -> list[tuple[Any, ...]]:
        """``template`` ends in ``IN ({in})``: run for ``values`` ``IN_CHUNK`` at a time, after ``params``."""
        wanted = list(values)
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            found += self.rows(template, (*params, *chunk), len(chunk))
        return found

    def execute(self, template: str, params: Sequence[Any] = (), count: int = 0) -> None:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self.sql(template, count), tuple(params))
        finally:
            cursor.close()

    def many(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows (``executemany``); ``{in}`` is one row's placeholders."""
        if not rows:
            return
        cursor = self._dbapi.cursor()
        try:
            cursor.executemany(self.sql(template, len(rows[0])), rows)
        finally:
            cursor.close()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into ``table``: one executemany on SQLite, ``COPY … FROM STDIN`` on PostgreSQL
        (several times cheaper per row than an INSERT each). Values as :meth:`at` and :meth:`json` make
        them."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.sqlite:
            self.many(_INSERT.format(table=table, names=names, values="{in}"), rows)
            return
        cursor = self._dbapi.cursor()
        try:
            with cursor.copy(_COPY.format(table=table, names=names)) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    # --- values in --------------------------------------------------------------------------------

    def at(self, value: datetime | None) -> Any:
        """A UTC date-time as the column stores it (``UTCDateTime.process_bind_param`` and the dialect's)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; consent-sync stores timezone-aware UTC only")
        moment = value if value.tzinfo is UTC else value.astimezone(UTC)
        if self.sqlite:
            return moment.replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    @staticmethod
    def json(value: Any) -> str:
        """A JSON column's value (the same text SQLAlchemy's ``JSON`` type writes: ``json.dumps``)."""
        return _encode(value)

    # --- values out -------------------------------------------------------------------------------

    def moment(self, value: Any) -> datetime | None:
        """A UTC date-time column's value, timezone-aware UTC (``UTCDateTime.process_result_value``)."""
        if value is None:
            return None
        if isinstance(value, str):  # text on SQLite: naive UTC, as SQLAlchemy writes it
            if len(value) == _STORED:  # parsed with its zone in one call, 6x cheaper than ``replace``
                return datetime.fromisoformat(value + "+00:00")
            # other text (written by hand, with an offset): its offset ignored, as SQLAlchemy's parser does
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)

    def loaded(self, value: Any) -> Any:
        """A JSON column's value, decoded (SQLite hands back the text, psycopg the value)."""
        return json.loads(value) if self.sqlite and value is not None else value

    @staticmethod
    def decimal(value: Any, scale: int = 2) -> Decimal | None:
        """A ``Numeric(…, scale)`` column's value (SQLite keeps a float)."""
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(f"{value:.{scale}f}")
