"""Read the facts the policy needs, for one contact or many at once (set-based, no per-row queries).

Core queries on :mod:`connector.store.core_tables`, through a session or a connection alike: a
one-contact command reads the facts without loading the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, cast

from sqlalchemy import Executable, Result, TableClause, select

from connector.core.identity import address_hash
from connector.core.model import (
    Actor,
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    ContactFacts,
    Objection,
    Relationship,
    RelationshipKind,
    Suppression,
    SuppressionReason,
)
from connector.store import core_tables

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from connector.store.tables import ConsentEventRow, ObjectionRow, RelationshipRow, SuppressionRow


class ContactKey(Protocol):
    """What the facts of a contact are read by: a ``ContactRow``, or a Core row of ``contacts``."""

    @property
    def id(self) -> str: ...

    @property
    def email(self) -> str | None: ...

    @property
    def phone(self) -> str | None: ...

    @property
    def processing_restricted(self) -> bool: ...


Reader: TypeAlias = "Session | Connection"
"""A session (the ORM's unit of work) or a Core connection: both run the Core queries here."""

_CHUNK = 500
_RowT = TypeVar("_RowT", "ConsentEventRow", "RelationshipRow", "ObjectionRow")
_ValueT = TypeVar("_ValueT")


def load_facts(session: Reader, contacts: Sequence[ContactKey], key: bytes) -> dict[str, ContactFacts]:
    """Facts for many contacts, a handful of queries per 500 contacts."""
    facts: dict[str, ContactFacts] = {}
    for start in range(0, len(contacts), _CHUNK):
        facts.update(_load_chunk(session, contacts[start : start + _CHUNK], key))
    return facts


def load_contact_facts(session: Reader, contact: ContactKey, key: bytes) -> ContactFacts:
    return load_facts(session, [contact], key)[contact.id]


def _load_chunk(session: Reader, contacts: Sequence[ContactKey], key: bytes) -> dict[str, ContactFacts]:
    ids = [c.id for c in contacts]
    events = _grouped(session, core_tables.consent_events, ids, to_consent_event)
    relationships = _grouped(session, core_tables.relationships, ids, to_relationship)
    objections = _grouped(session, core_tables.objections, ids, to_objection)
    hashes = {c.id: address_hash(c.email, key) for c in contacts if c.email}
    suppressions = suppressions_by_hash(session, hashes.values())
    return {
        c.id: ContactFacts(
            contact_id=c.id,
            has_email=c.email is not None,
            has_phone=c.phone is not None,
            processing_restricted=c.processing_restricted,
            consent_events=tuple(events.get(c.id, ())),
            relationships=tuple(relationships.get(c.id, ())),
            objections=tuple(objections.get(c.id, ())),
            suppressions=tuple(suppressions.get(hashes.get(c.id, ""), ())),
        )
        for c in contacts
    }


def _grouped(
    session: Reader, table: TableClause, ids: Sequence[str], convert: Callable[[_RowT], _ValueT]
) -> dict[str, list[_ValueT]]:
    """Rows of ``table`` per contact, read as plain rows (no ORM instances: they cost ~5x more)."""
    grouped: dict[str, list[_ValueT]] = defaultdict(list)
    rows = _execute(session, select(*table.c).where(table.c.contact_id.in_(ids)))
    for row in rows:
        grouped[row.contact_id].append(convert(cast(_RowT, row)))
    return grouped


def suppressions_by_hash(session: Reader, hashes: Iterable[str]) -> dict[str, list[Suppression]]:
    wanted = list(set(hashes))
    found: dict[str, list[Suppression]] = defaultdict(list)
    table = core_tables.suppressions
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = _execute(session, select(*table.c).where(table.c.address_hash.in_(chunk)))
        for row in rows:
            found[row.address_hash].append(to_suppression(cast("SuppressionRow", row)))
    return found


def _execute(session: Reader, statement: Executable) -> Result[Any]:
    return session.execute(statement)


def to_consent_event(row: ConsentEventRow) -> ConsentEvent:
    return ConsentEvent(
        id=row.id,
        purpose=row.purpose,
        channel=Channel(row.channel),
        action=ConsentAction(row.action),
        occurred_at=row.occurred_at,
        method=ConsentMethod(row.method),
        source=row.source,
        notice_version=row.notice_version,
        active_act=row.active_act,
        ip=row.ip,
        user_agent=row.user_agent,
        double_opt_in_requested_at=row.double_opt_in_requested_at,
        recorded_by=Actor(row.recorded_by),
        source_ref=row.source_ref,
    )


def to_relationship(row: RelationshipRow) -> Relationship:
    return Relationship(
        id=row.id,
        kind=RelationshipKind(row.kind),
        started_at=row.started_at,
        reference=row.reference,
        categories=frozenset(row.categories),
        service_date=row.service_date,
        ended_at=row.ended_at,
        opt_out_offered=row.opt_out_offered,
        order_value=row.order_value,
        source=row.source,
        item=row.item,
    )


def to_objection(row: ObjectionRow) -> Objection:
    return Objection(
        id=row.id,
        occurred_at=row.occurred_at,
        source=row.source,
        purpose=row.purpose,
        channel=Channel(row.channel) if row.channel else None,
        reason=row.reason,
    )


def to_suppression(row: SuppressionRow) -> Suppression:
    return Suppression(
        address_hash=row.address_hash,
        reason=SuppressionReason(row.reason),
        created_at=row.created_at,
        source=row.source,
    )
