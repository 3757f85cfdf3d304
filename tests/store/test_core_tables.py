"""The Core table clauses of the one-contact path are the schema's columns, of the schema's types."""

from sqlalchemy import Numeric
from sqlalchemy.types import TypeEngine
from sqlmodel.sql.sqltypes import AutoString

from connector.store import core_tables
from connector.store.tables import (
    ConsentEventRow,
    ContactRow,
    HistoryRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
)


def _kind(type_: TypeEngine[object]) -> tuple[object, ...]:
    """What converts a value on its way in and out: the type's class (SQLModel's ``AutoString`` is a
    plain string), and a decimal's precision and scale."""
    if isinstance(type_, AutoString):
        return ("String",)
    if isinstance(type_, Numeric):
        return (type(type_).__name__, type_.precision, type_.scale, type_.asdecimal)
    return (type(type_).__name__,)


def test_every_core_column_is_the_schema_column_of_the_same_type() -> None:
    for clause, row in (
        (core_tables.contacts, ContactRow),
        (core_tables.consent_events, ConsentEventRow),
        (core_tables.relationships, RelationshipRow),
        (core_tables.objections, ObjectionRow),
        (core_tables.suppressions, SuppressionRow),
        (core_tables.history, HistoryRow),
    ):
        schema = row.__table__  # type: ignore[attr-defined]
        assert clause.name == schema.name
        assert [c.name for c in clause.c] == [c.name for c in schema.c], clause.name
        for column in clause.c:
            assert _kind(column.type) == _kind(schema.c[column.name].type), (clause.name, column.name)
