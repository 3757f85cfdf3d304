"""Values as the database driver returns them, for loaders that read many rows at once.

A column read through its SQLAlchemy type is converted value by value on the way out (a date-time of
SQLite parsed from text, then given its UTC zone by :class:`~connector.store.types.UTCDateTime`; a
boolean from an integer): for 100,000 rows of eight columns that is most of the time a query takes.
:func:`plain` reads a column with no conversion at all; :func:`utc_moment` then turns a date-time into
the same timezone-aware UTC value ``UTCDateTime`` gives, parsing each distinct value once.
"""

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, type_coerce


def plain(column: Any) -> ColumnElement[Any]:
    """``column`` read as the driver gives it (text for a SQLite date-time, 0/1 for its booleans)."""
    return type_coerce(column, String)


@functools.lru_cache(maxsize=65_536)
def utc_moment(value: str | datetime) -> datetime:
    """A date-time of the driver (SQLite's ISO text, PostgreSQL's ``datetime``) as timezone-aware UTC,
    the value :class:`~connector.store.types.UTCDateTime` reads (a zone-less one is taken as UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_moment_or_none(value: str | datetime | None) -> datetime | None:
    return None if value is None else utc_moment(value)
