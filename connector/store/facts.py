"""Read the facts the policy needs, for one contact or many at once (set-based, no per-row queries).

Core queries on :mod:`connector.store.core_tables`, through a session or a connection alike: a
one-contact command reads the facts without loading the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

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
from connector.store.raw import Raw

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
    raw = Raw(session)
    ids = [c.id for c in contacts]
    events = _grouped_raw(raw, _EVENTS, ids, _event_of)
    relationships = _grouped_raw(raw, _RELATIONSHIPS, ids, _relationship_of)
    objections = _grouped_raw(raw, _OBJECTIONS, ids, _objection_of)
    hashes = {c.id: address_hash(c.email, key) for c in contacts if c.email}
    suppressions = _suppressions_raw(raw, hashes.values())
    none: tuple[Any, ...] = ()
    return {
        c.id: ContactFacts(
            contact_id=c.id,
            has_email=c.email is not None,
            has_phone=c.phone is not None,
            processing_restricted=bool(c.processing_restricted),
            consent_events=tuple(events.get(c.id, none)),
            relationships=tuple(relationships.get(c.id, none)),
            objections=tuple(objections.get(c.id, none)),
            suppressions=tuple(suppressions.get(hashes.get(c.id, ""), none)),
        )
        for c in contacts
    }


# --- read on the raw cursor: the sync's hot path (``connector/store/raw.py``) -----------------------

_EVENTS = (
    "SELECT contact_id, id, purpose, channel, action, occurred_at, method, source, notice_version, "
    "active_act, ip, user_agent, double_opt_in_requested_at, recorded_by, source_ref "
    "FROM consent_events WHERE contact_id IN ({in})"
)
_RELATIONSHIPS = (
    "SELECT contact_id, id, kind, started_at, reference, categories, service_date, ended_at, "
    "opt_out_offered, order_value, source, item FROM relationships WHERE contact_id IN ({in})"
)
_OBJECTIONS = (
    "SELECT contact_id, id, occurred_at, source, purpose, channel, reason FROM objections "
    "WHERE contact_id IN ({in})"
)
_SUPPRESSIONS = (
    "SELECT address_hash, reason, created_at, source FROM suppressions WHERE address_hash IN ({in})"
)
_EnumT = TypeVar("_EnumT", bound=StrEnum)


def _members(kind: type[_EnumT]) -> Callable[[str], _EnumT]:
    """``kind(value)`` by a dictionary look-up (an enum's own call costs several times more)."""
    known = {member.value: member for member in kind}

    def member(value: str) -> _EnumT:
        found = known.get(value)
        return found if found is not None else kind(value)  # an unknown value raises as ``kind`` does

    return member


_channel, _action, _method = _members(Channel), _members(ConsentAction), _members(ConsentMethod)
_actor, _kind, _reason = _members(Actor), _members(RelationshipKind), _members(SuppressionReason)


def _grouped_raw(
    raw: Raw,
    query: str,
    ids: Sequence[str],
    convert: Callable[[Raw, tuple[Any, ...]], _ValueT],
) -> dict[str, list[_ValueT]]:
    grouped: dict[str, list[_ValueT]] = defaultdict(list)
    for row in raw.rows_in(query, (), ids):
        grouped[row[0]].append(convert(raw, row))
    return grouped


def _event_of(raw: Raw, row: tuple[Any, ...]) -> ConsentEvent:
    _, id_, purpose, channel, action, occurred, method, source, notice, active, ip, agent, doi, by, ref = row
    return ConsentEvent(
        id_,
        purpose,
        _channel(channel),
        _action(action),
        raw.moment(occurred),  # type: ignore[arg-type]
        _method(method),
        source,
        notice,
        bool(active),
        ip,
        agent,
        raw.moment(doi),
        _actor(by),
        ref,
    )


def _relationship_of(raw: Raw, row: tuple[Any, ...]) -> Relationship:
    _, id_, kind, started, reference, categories, service, ended, offered, value, source, item = row
    return Relationship(
        id_,
        _kind(kind),
        raw.moment(started),  # type: ignore[arg-type]
        reference,
        frozenset(raw.loaded(categories)),
        raw.moment(service),
        raw.moment(ended),
        bool(offered),
        raw.decimal(value),
        source,
        item,
    )


def _objection_of(raw: Raw, row: tuple[Any, ...]) -> Objection:
    _, id_, occurred, source, purpose, channel, reason = row
    return Objection(
        id_,
        raw.moment(occurred),  # type: ignore[arg-type]
        source,
        purpose,
        _channel(channel) if channel else None,
        reason,
    )


def _suppressions_raw(raw: Raw, hashes: Iterable[str]) -> dict[str, list[Suppression]]:
    found: dict[str, list[Suppression]] = defaultdict(list)
    for address, reason, created, source in raw.rows_in(_SUPPRESSIONS, (), set(hashes)):
        found[address].append(Suppression(address, _reason(reason), raw.moment(created), source))  # type: ignore[arg-type]
    return found


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
