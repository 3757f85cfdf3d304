"""What the store already holds about the people in a chunk of import rows, loaded set-based.

A handful of queries per chunk (contacts by address / customer id / phone, their consent events,
objections and relationships, and the suppression entries of the addresses), never one per row.
Only the columns the planner compares are read.
"""

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from sys import intern
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, select, text
from sqlmodel import Session, col

from connector.core.model import Channel, ConsentAction, ConsentEvent, ConsentMethod, SuppressionReason
from connector.core.wording import day, describe_source
from connector.imports.plan import CONTACT_FIELDS
from connector.store.tables import (
    ConsentEventRow,
    ContactRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
)

IN_LIST = 2_000
"""Values per ``IN (…)``: one query per column for a planner chunk (SQLite >= 3.32 allows 32,766)."""
_T = TypeVar("_T")

EventKey = tuple[str, str, str, datetime]
"""(purpose, channel, action, occurred_at) of a stored consent event."""
RelationshipKey = tuple[str, str]
"""(kind, reference — or the start date when there is none)."""


@dataclass(frozen=True, slots=True)
class OptOut:
    """A stored withdrawal or objection; ``purpose``/``channel`` ``None`` means every one."""

    at: datetime
    description: str
    purpose: str | None
    channel: Channel | None

    def covers(self, purpose: str, channel: Channel) -> bool:
        return (self.purpose is None or self.purpose == purpose) and (
            self.channel is None or self.channel == channel
        )


@dataclass(frozen=True, slots=True)
class StoredRelationship:
    id: str
    values: tuple[object, ...]


class ExistingContact(NamedTuple):
    """A stored contact as the planner compares it (a named tuple: a re-import builds one per person,
    and a frozen dataclass of nine fields costs several times as much to build)."""

    id: str
    email: str | None
    values: tuple[str | None, ...]
    updated_at: datetime
    events: frozenset[EventKey]
    withdrawn: frozenset[tuple[str, str]]
    """(purpose, channel) pairs whose latest event is a withdrawal: already opted out."""
    objections: frozenset[datetime]
    opt_outs: tuple[OptOut, ...]
    relationships: dict[RelationshipKey, StoredRelationship]


@dataclass(frozen=True, slots=True)
class StoredSuppression:
    reason: SuppressionReason
    created_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class ChunkKeys:
    """What a chunk of rows identifies people by."""

    emails: frozenset[str]
    external_ids: frozenset[str]
    phones: frozenset[str]
    address_hashes: frozenset[str]


@dataclass(frozen=True, slots=True)
class StoreState:
    by_email: dict[str, ExistingContact]
    by_external_id: dict[str, ExistingContact]
    by_phone: dict[str, ExistingContact]
    suppressions: dict[str, tuple[StoredSuppression, ...]]


@dataclass(frozen=True, slots=True)
class StoreExtent:
    """Which tables the import compares against hold anything at all (asked once per plan): an import
    into an empty store needs no per-chunk look-ups, one into a store without suppressions no keyed
    address hashes, and one without consent events, objections or relationships not those queries."""

    contacts: bool
    suppressions: bool
    events: bool
    objections: bool
    relationships: bool


def _holds_rows(session: Session, column: Any) -> bool:
    return session.execute(select(column).limit(1)).first() is not None


def store_extent(session: Session) -> StoreExtent:
    return StoreExtent(
        contacts=_holds_rows(session, col(ContactRow.id)),
        suppressions=_holds_rows(session, col(SuppressionRow.address_hash)),
        events=_holds_rows(session, col(ConsentEventRow.id)),
        objections=_holds_rows(session, col(ObjectionRow.id)),
        relationships=_holds_rows(session, col(RelationshipRow.id)),
    )


def relationship_key(kind: str, reference: str | None, started_at: datetime) -> RelationshipKey:
    return kind, reference if reference is not None else f"@{started_at.isoformat()}"


def load_state(session: Session, keys: ChunkKeys, extent: StoreExtent) -> StoreState:
    """Everything the planner compares against, for the people of one chunk (``extent``: which
    tables hold anything at all)."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    rows = _contacts(session, keys)
    members = _members([row[0] for row in rows]) if rows else []
    events = _events(connection, members) if extent.events else {}
    objections = _objections(connection, members) if extent.objections else {}
    relationships = _relationships(connection, members) if extent.relationships else {}
    addresses = {email: email for email in keys.emails}  # hold the importer's own string, not a copy
    moment = _aware_utc if postgres else _stored_utc
    contacts = [_existing(row, moment, events, objections, relationships, addresses) for row in rows]
    return StoreState(
        by_email={c.email: c for c in contacts if c.email},
        by_external_id={v: c for c in contacts if (v := c.values[3]) is not None and v in keys.external_ids},
        by_phone={v: c for c in contacts if (v := c.values[0]) is not None and v in keys.phones},
        suppressions=_suppressions(connection, _members(keys.address_hashes)),
    )


def contacts_by_email(
    session: Session, emails: Iterable[str], *, with_updated_at: bool = True
) -> dict[str, tuple[Any, ...]]:
    """The stored contacts with these addresses as plain rows (``id, email, *CONTACT_FIELDS,
    updated_at``), by address: what a contacts-only import compares (see :func:`existing_contact`).
    ``with_updated_at=False``: the rows end after the fields (a comparison of values needs no more)."""
    columns = _CONTACT_COLUMNS if with_updated_at else _CONTACT_COLUMNS[:-1]
    return {row[1]: row for row in _contact_rows(session, "email", emails, columns)}


SCAN_FACTOR = 2
"""A store holding at most this many contacts per address asked for is read in one pass (see
:func:`stored_contacts`): a sequential read costs about a third of an index look-up per row."""
SCAN_ROWS = 10_000
"""Rows fetched at a time by that pass (a million contacts are never held as rows at once)."""


def stored_contacts(session: Session, emails: Collection[str]) -> Iterator[tuple[Any, ...]]:
    """Plain rows (``id, email, *CONTACT_FIELDS``) of the stored contacts with these addresses, and
    perhaps of others: the caller keeps the ones it asked for. A store of at most ``SCAN_FACTOR``
    contacts per address is read whole, in one sequential pass, ``SCAN_ROWS`` at a time (a re-import
    names most of the store: one pass costs less than a look-up per address); a larger one is asked
    for the addresses, ``IN_LIST`` at a time (:func:`contacts_by_email`)."""
    if not emails:
        return
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    columns = ", ".join(_CONTACT_COLUMNS[:-1])
    (stored,) = driver.execute("SELECT count(*) FROM contacts").fetchone()
    if stored > SCAN_FACTOR * len(emails):
        yield from contacts_by_email(session, emails, with_updated_at=False).values()
        return
    statement = f"SELECT {columns} FROM contacts WHERE email IS NOT NULL"  # noqa: S608 - our own columns
    if connection.dialect.name == "postgresql":  # a server-side cursor: the rows come a batch at a time
        with driver.cursor("import_stored_contacts") as cursor:
            cursor.itersize = SCAN_ROWS
            cursor.execute(statement)
            while rows := cursor.fetchmany(SCAN_ROWS):
                yield from rows
        return
    cursor = driver.execute(statement)
    while rows := cursor.fetchmany(SCAN_ROWS):
        yield from rows


def existing_contact(session: Session, row: tuple[Any, ...]) -> ExistingContact:
    """A row of :func:`contacts_by_email` as the planner's :class:`ExistingContact` (without consent
    events, objections or relationships: a contacts-only import's drafts never look at them)."""
    postgres = session.connection().dialect.name == "postgresql"
    return _existing(row, _aware_utc if postgres else _stored_utc, {}, {}, {}, {})


def stored_suppressions(session: Session, hashes: Iterable[str]) -> dict[str, tuple[StoredSuppression, ...]]:
    """The suppression entries of these keyed address hashes, by hash."""
    return _suppressions(session.connection(), _members(hashes))


SUPPRESSIONS_HELD = 200_000
"""Up to this many suppression entries, :func:`suppressed_hashes` holds every hash (about 13 MB)."""


def suppressed_hashes(session: Session) -> frozenset[str] | None:
    """Every keyed address hash the suppression list holds, read in one statement; ``None`` when it
    holds more than ``SUPPRESSIONS_HELD`` entries (then each chunk asks :func:`stored_suppressions`
    for all its hashes). A store suppresses a small share of the people an import names: asking only
    for the hashes found here spares a look-up per row."""
    column = col(SuppressionRow.address_hash)
    if session.execute(select(column).offset(SUPPRESSIONS_HELD).limit(1)).first() is not None:
        return None
    return frozenset(session.execute(select(column).distinct()).scalars())


def _in_chunks(values: Iterable[_T]) -> Iterator[list[_T]]:
    listed = list(values)
    for start in range(0, len(listed), IN_LIST):
        yield listed[start : start + IN_LIST]


def _members(values: Iterable[str]) -> list[str]:
    """The keys as query parameters, ``IN_LIST`` at a time, each a JSON array (``_MEMBER_OF``) encoded
    once for all the queries of a chunk. Sorted: index look-ups in key order reuse the pages the
    previous one read."""
    return [json.dumps(chunk) for chunk in _in_chunks(sorted(values))]


_MEMBER_OF = {
    True: "= ANY(ARRAY(SELECT json_array_elements_text(CAST({} AS json))))",
    False: "IN (SELECT value FROM json_each({}))",
}
"""A column is one of the keys, given as ONE parameter, a JSON array (PostgreSQL: True; SQLite: False).
Thousands of separate parameters cost more to render and bind than the look-up itself, and so does a
PostgreSQL array parameter (psycopg adapts it element by element, ~2.5 µs each); the PostgreSQL form
still plans as an index scan over an array (the ``ARRAY(SELECT …)`` is an init plan)."""


def _select_in(connection: Connection, table: str, columns: tuple[str, ...], members: list[str]) -> list[Any]:
    """Core rows (the ORM's result layer costs more than the query) of ``table`` whose first column is
    one of the keys, by a statement built and compiled once (``_member_query``)."""
    if not members:
        return []
    query = _member_query(table, columns, connection.dialect.name == "postgresql")
    found: list[Any] = []
    for parameter in members:
        found.extend(connection.execute(query, {"members": parameter}).all())
    return found


@cache
def _member_query(table: str, columns: tuple[str, ...], postgres: bool) -> Any:
    """``SELECT columns FROM table WHERE columns[0]`` is one of the keys (``_MEMBER_OF``), its result
    columns typed as the table's (moments read as aware UTC, JSON parsed, amounts as decimals). Built
    once, so SQLAlchemy's compiled cache serves every chunk."""
    model = _MODELS[table].__table__
    member = _MEMBER_OF[postgres].format(":members")
    statement = f"SELECT {', '.join(columns)} FROM {table} WHERE {columns[0]} {member}"  # noqa: S608 - our own table and column names
    return text(statement).columns(*(model.c[name] for name in columns))


_MODELS: dict[str, Any] = {
    "consent_events": ConsentEventRow,
    "objections": ObjectionRow,
    "relationships": RelationshipRow,
    "suppressions": SuppressionRow,
}


_CONTACT_COLUMNS = ("id", "email", *CONTACT_FIELDS, "updated_at")


def _contacts(session: Session, keys: ChunkKeys) -> list[tuple[Any, ...]]:
    """The stored contacts with any of the keys, as plain tuples in ``_CONTACT_COLUMNS`` order."""
    found: dict[str, tuple[Any, ...]] = {}
    for column, values in (
        ("email", keys.emails),
        ("external_id", keys.external_ids),
        ("phone", keys.phones),
    ):
        for row in _contact_rows(session, column, values):
            found[row[0]] = row
    return list(found.values())


def _contact_rows(
    session: Session, column: str, values: Iterable[str], columns: tuple[str, ...] = _CONTACT_COLUMNS
) -> list[tuple[Any, ...]]:
    """Through the driver, not SQLAlchemy's result layer, which costs twice the query itself for the
    thousands of rows a chunk finds (in the session's transaction, as ``bulk.insert_rows`` writes);
    ``updated_at`` is made aware UTC by ``_existing``, as ``UTCDateTime`` reads it."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    driver: Any = connection.connection.driver_connection
    member = _MEMBER_OF[postgres].format("%s" if postgres else "?")
    statement = f"SELECT {', '.join(columns)} FROM contacts WHERE {column} {member}"  # noqa: S608 - our own table and column names
    found: list[tuple[Any, ...]] = []
    for parameter in _members(values):
        found.extend(driver.execute(statement, (parameter,)).fetchall())
    return found


def _stored_utc(text: str) -> datetime:
    """SQLite's stored text of a ``UTCDateTime`` (naive UTC) as an aware moment."""
    return datetime.fromisoformat(text + "+00:00")


def _aware_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _events(connection: Connection, members: list[Any]) -> dict[str, list[Any]]:
    columns = ("contact_id", "purpose", "channel", "action", "occurred_at", "method", "source", "source_ref")
    return _grouped(_select_in(connection, "consent_events", columns, members))


def _objections(connection: Connection, members: list[Any]) -> dict[str, list[Any]]:
    columns = ("contact_id", "occurred_at", "purpose", "channel")
    return _grouped(_select_in(connection, "objections", columns, members))


def _relationships(connection: Connection, members: list[Any]) -> dict[str, list[Any]]:
    columns = (
        "contact_id", "id", "kind", "reference", "started_at", "service_date", "ended_at", "categories",
        "order_value", "opt_out_offered", "item",
    )  # fmt: skip
    return _grouped(_select_in(connection, "relationships", columns, members))


def _grouped(rows: Iterable[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.contact_id].append(row)
    return grouped


def _suppressions(connection: Connection, members: list[Any]) -> dict[str, tuple[StoredSuppression, ...]]:
    columns = ("address_hash", "reason", "created_at", "source")
    found: dict[str, list[StoredSuppression]] = defaultdict(list)
    for row in _select_in(connection, "suppressions", columns, members):
        found[row.address_hash].append(
            StoredSuppression(SuppressionReason(row.reason), row.created_at, row.source)
        )
    return {hashed: tuple(entries) for hashed, entries in found.items()}


_NO_EVENTS: frozenset[EventKey] = frozenset()
_NO_PAIRS: frozenset[tuple[str, str]] = frozenset()
_NO_DATES: frozenset[datetime] = frozenset()
_NO_RELATIONSHIPS: dict[RelationshipKey, StoredRelationship] = {}
"""Shared (never mutated) empties: most existing contacts have no events, objections or relationships,
and a large import holds one :class:`ExistingContact` per person."""


_new_existing: Callable[[Any], ExistingContact] = partial(tuple.__new__, ExistingContact)
"""An :class:`ExistingContact` from a tuple of its fields, built in C (the class call is Python)."""


def _existing(
    row: Any,
    moment: Callable[[Any], datetime],
    events: dict[str, list[Any]],
    objections: dict[str, list[Any]],
    relationships: dict[str, list[Any]],
    addresses: dict[str, str],
) -> ExistingContact:
    contact_id, email, phone, first_name, last_name, external_id, locale, updated_at = row
    values = (phone, _shared(first_name), _shared(last_name), external_id, _shared(locale))
    address = addresses.get(email, email) if email else None
    own_events = events.get(contact_id)
    own_objections = objections.get(contact_id)
    own_relationships = relationships.get(contact_id)
    if not (own_events or own_objections or own_relationships):  # the common case, kept cheap
        return _new_existing(
            (contact_id, address, values, moment(updated_at), _NO_EVENTS, _NO_PAIRS, _NO_DATES, (),
             _NO_RELATIONSHIPS)
        )  # fmt: skip
    return ExistingContact(
        id=contact_id,
        email=address,
        values=values,
        updated_at=moment(updated_at),
        events=frozenset((e.purpose, e.channel, e.action, e.occurred_at) for e in own_events)
        if own_events
        else _NO_EVENTS,
        withdrawn=_withdrawn(own_events) if own_events else _NO_PAIRS,
        objections=frozenset(o.occurred_at for o in own_objections) if own_objections else _NO_DATES,
        opt_outs=(*_withdrawals(own_events or ()), *_objection_opt_outs(own_objections or ())),
        relationships={
            relationship_key(r.kind, r.reference, r.started_at): StoredRelationship(
                r.id, relationship_values(r)
            )
            for r in own_relationships
        }
        if own_relationships
        else _NO_RELATIONSHIPS,
    )


def _shared(value: str | None) -> str | None:
    """Stored names held once (interned), like the importer's own."""
    return intern(value) if value else value


_ACTION_ORDER = {
    ConsentAction.GIVEN.value: 0,
    ConsentAction.CONFIRMED.value: 1,
    ConsentAction.WITHDRAWN.value: 2,
}


def _withdrawn(events: Iterable[Any]) -> frozenset[tuple[str, str]]:
    latest: dict[tuple[str, str], tuple[datetime, int]] = {}
    for e in events:
        order = (e.occurred_at, _ACTION_ORDER.get(e.action, 0))
        key = (e.purpose, e.channel)
        if key not in latest or order > latest[key]:
            latest[key] = order
    return frozenset(key for key, (_, action) in latest.items() if action == 2)


def relationship_values(row: Any) -> tuple[object, ...]:
    """The compared values of a stored relationship (the planner builds the same tuple for a row)."""
    amount = row.order_value
    return (
        row.started_at,
        row.service_date,
        row.ended_at,
        tuple(sorted(row.categories)),
        None if amount is None else amount.normalize(),
        bool(row.opt_out_offered),
        row.item,
    )


def _withdrawals(events: Iterable[Any]) -> Iterator[OptOut]:
    for e in events:
        if e.action != ConsentAction.WITHDRAWN.value:
            continue
        event = ConsentEvent(
            id="",
            purpose=e.purpose,
            channel=Channel(e.channel),
            action=ConsentAction.WITHDRAWN,
            occurred_at=e.occurred_at,
            method=ConsentMethod(e.method),
            source=e.source,
            source_ref=e.source_ref,
        )
        description = f"withdrew {day(e.occurred_at)} via {describe_source(event)}"
        yield OptOut(e.occurred_at, description, e.purpose, Channel(e.channel))


def _objection_opt_outs(objections: Iterable[Any]) -> Iterator[OptOut]:
    for o in objections:
        channel = Channel(o.channel) if o.channel else None
        yield OptOut(o.occurred_at, f"objected to marketing {day(o.occurred_at)}", o.purpose, channel)
