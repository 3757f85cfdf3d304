"""Write an :class:`ImportPlan` exactly as planned: bulk inserts and updates in the caller's transaction.

The caller (``service.run_import``) holds one unit of work around planning and applying, so an import
is all or nothing. Every contact the import touches is marked changed (the next sync looks at it and
recomputes its review time) and gets one history entry with actor ``import:<source>`` and the file
hashes; the import files are recorded so that applying them again changes nothing.
"""

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session

from connector.core.model import Actor, ConsentAction, ConsentMethod
from connector.imports.bulk import Encoder, encoder_for, insert_rows, refresh_statistics
from connector.imports.plan import (
    CONTACT_FIELDS,
    ContactDecision,
    ContactStatus,
    EventDecision,
    ImportPlan,
)
from connector.store.import_tables import ImportRecordRow
from connector.store.tables import (
    ContactRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
)

BATCH = 5_000
ANALYZE_AFTER = 10_000
"""Contacts touched from which an apply refreshes the planner statistics (PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class ApplyContext:
    now: datetime
    actor: str
    """``import:<source>`` (``import:unattested`` without ``--source``)."""
    source: str
    """What stored records name as their source: ``import:<source>`` or ``import``."""
    operator: str
    jurisdiction: str


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def apply_plan(session: Session, plan: ImportPlan, context: ApplyContext) -> dict[str, str]:
    """Write the plan; returns {contact key: contact id} for every contact the import touched."""
    ids = _contact_ids(plan.contacts)
    encode = encoder_for(session)
    now = encode.at(context.now)
    new = (_new_contact(c, ids[c.key], context, now) for c in plan.contacts if c.contact_id is None)
    insert_rows(session, "contacts", CONTACT_COLUMNS, new)
    _update_contacts(session, [c for c in plan.contacts if c.status is ContactStatus.UPDATED], context)
    events = (_event(e, ids[e.key], context, encode) for e in plan.events)
    insert_rows(session, "consent_events", EVENT_COLUMNS, events)
    _insert(session, ObjectionRow, (_objection(o, ids[o.key], context) for o in plan.objections))
    _write_relationships(session, plan, ids, context)
    _insert(session, SuppressionRow, (_suppression(s, context) for s in plan.suppressions))
    insert_rows(session, "history", HISTORY_COLUMNS, _history(plan, ids, context, encode))
    _insert(session, ImportRecordRow, _records(plan, context))
    if len(ids) >= ANALYZE_AFTER:
        refresh_statistics(session, ("contacts", "consent_events", "relationships", "history"))
    return ids


def _contact_ids(contacts: Iterable[ContactDecision]) -> dict[str, str]:
    return {c.key: c.contact_id or str(uuid.uuid4()) for c in contacts if c.touched}


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    statement = insert(_table(model))
    for batch in _batches(rows):
        session.execute(statement, batch)


CONTACT_COLUMNS = (
    "id", "email", *CONTACT_FIELDS, "jurisdiction", "processing_restricted", "created_at", "updated_at",
    "changed_at", "next_review_at",
)  # fmt: skip


def _new_contact(
    contact: ContactDecision, contact_id: str, context: ApplyContext, now: object
) -> tuple[Any, ...]:
    return (contact_id, contact.email, *contact.values, context.jurisdiction, False, now, now, now, None)


def _update_contacts(session: Session, contacts: Sequence[ContactDecision], context: ApplyContext) -> None:
    table = _table(ContactRow)
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            {
                **{name: bindparam(f"b_{name}") for name in CONTACT_FIELDS},
                "updated_at": bindparam("b_updated_at"),
                "changed_at": bindparam("b_changed_at"),
            }
        )
    )
    rows = (
        {
            "b_id": c.contact_id,
            **{f"b_{name}": value for name, value in zip(CONTACT_FIELDS, c.values, strict=True)},
            "b_updated_at": context.now,
            "b_changed_at": context.now,
        }
        for c in contacts
    )
    for batch in _batches(rows):
        session.execute(statement, batch)


EVENT_COLUMNS = (
    "id", "contact_id", "purpose", "channel", "action", "occurred_at", "recorded_at", "method", "source",
    "notice_version", "active_act", "ip", "user_agent", "double_opt_in_requested_at", "recorded_by",
    "source_ref",
)  # fmt: skip


def _event(event: EventDecision, contact_id: str, context: ApplyContext, encode: Encoder) -> tuple[Any, ...]:
    recorded_by = Actor.SYSTEM if event.method is ConsentMethod.MAILCHIMP else Actor.STAFF
    return (
        str(uuid.uuid4()),
        contact_id,
        event.purpose,
        event.channel.value,
        event.action.value,
        encode.at(event.occurred_at),
        encode.at(context.now),
        event.method.value,
        context.source,
        event.notice_version,
        event.action is not ConsentAction.WITHDRAWN,
        event.ip,
        None,
        encode.at(event.double_opt_in_requested_at),
        recorded_by.value,
        event.source_ref[:300],
    )


def _objection(objection: Any, contact_id: str, context: ApplyContext) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "contact_id": contact_id,
        "occurred_at": objection.occurred_at,
        "recorded_at": context.now,
        "purpose": None,
        "channel": objection.channel.value if objection.channel else None,
        "reason": (objection.reason or "")[:300] or None,
        "source": context.source,
    }


def _relationship_values(decision: Any) -> dict[str, Any]:
    return {
        "kind": decision.kind.value,
        "reference": decision.reference,
        "categories": list(decision.categories),
        "started_at": decision.started_at,
        "service_date": decision.service_date,
        "ended_at": decision.ended_at,
        "opt_out_offered": decision.opt_out_offered,
        "order_value": decision.amount,
        "item": decision.item,
    }


def _write_relationships(
    session: Session, plan: ImportPlan, ids: dict[str, str], context: ApplyContext
) -> None:
    new = (
        {
            "id": str(uuid.uuid4()),
            "contact_id": ids[r.key],
            **_relationship_values(r),
            "source": context.source,
            "recorded_at": context.now,
        }
        for r in plan.relationships
        if r.existing_id is None
    )
    _insert(session, RelationshipRow, new)
    table = _table(RelationshipRow)
    names = (
        "kind",
        "reference",
        "categories",
        "started_at",
        "service_date",
        "ended_at",
        "opt_out_offered",
        "order_value",
        "item",
    )
    statement = (
        update(table).where(table.c.id == bindparam("b_id")).values({n: bindparam(f"b_{n}") for n in names})
    )
    changed = (
        {"b_id": r.existing_id, **{f"b_{k}": v for k, v in _relationship_values(r).items()}}
        for r in plan.relationships
        if r.existing_id is not None
    )
    for batch in _batches(changed):
        session.execute(statement, batch)


def _suppression(suppression: Any, context: ApplyContext) -> dict[str, Any]:
    return {
        "address_hash": suppression.address_hash,
        "reason": suppression.reason.value,
        "created_at": suppression.at,
        "source": context.source,
    }


HISTORY_COLUMNS = ("contact_id", "occurred_at", "actor", "source", "action", "detail")


def _history(
    plan: ImportPlan, ids: dict[str, str], context: ApplyContext, encode: Encoder
) -> Iterator[tuple[Any, ...]]:
    counts = _per_contact_counts(plan)
    done = {a.sha256 for a in plan.already_applied}
    hashes = [f.sha256 for f in plan.files if f.sha256 not in done]
    now = encode.at(context.now)
    details: dict[tuple[object, ...], str] = {}  # most contacts share one detail: serialise it once
    for contact in plan.contacts:
        if not contact.touched:
            continue
        own = counts.get(contact.key, {})
        shape = (contact.status, contact.filled_fields, *own.items())
        detail = details.get(shape)
        if detail is None:
            detail = details[shape] = encode.json(
                {
                    "files_sha256": hashes,
                    "operator": context.operator,
                    "status": contact.status.value,
                    "fields": list(contact.filled_fields),
                    **own,
                }
            )
        yield (ids[contact.key], now, context.actor, context.source, "import.applied", detail)


def _per_contact_counts(plan: ImportPlan) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for name, entries in (
        ("consent_events", plan.events),
        ("objections", plan.objections),
        ("relationships", plan.relationships),
        ("suppressions", plan.suppressions),
    ):
        for entry in entries:
            per_contact = counts.setdefault(entry.key, {})
            per_contact[name] = per_contact.get(name, 0) + 1
    return counts


def _records(plan: ImportPlan, context: ApplyContext) -> Iterator[dict[str, Any]]:
    done = {a.sha256 for a in plan.already_applied}
    counts = plan.counts()
    for file in plan.files:
        if file.sha256 in done:
            continue
        yield {
            "id": str(uuid.uuid4()),
            "file_sha256": file.sha256,
            "file_name": file.path[-500:],
            "source": plan.source,
            "actor": context.actor,
            "counts": counts,
            "applied_at": context.now,
        }
