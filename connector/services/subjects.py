"""Data-subject rights: access/portability (Art. 15/20) and erasure (Art. 17, the local part of P7)."""

from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import delete, select, update
from sqlmodel import Session, SQLModel, col

from connector.core.identity import address_hash
from connector.core.model import SuppressionReason
from connector.core.remote import subscriber_hash
from connector.core.specificity import NOTICE_UNKNOWN
from connector.core.streaming import HELD
from connector.services.contacts import require_contact
from connector.services.context import AppContext, Origin
from connector.services.explain import entitlement_document, explain_contact
from connector.services.history import record_change
from connector.services.suppressions import suppress
from connector.store.engine import unit_of_work
from connector.store.http_tables import ERASED_BODY, AdminRunRow, WebhookInboxRow
from connector.store.notice_tables import NoticeDeliveryRow, NoticeRow
from connector.store.sync_requests import request_sync
from connector.store.sync_tables import MirrorMemberRow, PlanOperationRow
from connector.store.tables import (
    ConsentEventRow,
    ContactRow,
    ErasureRow,
    HistoryRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
)

NOTICE_NOT_RECORDED = "notice text not recorded"
ERASED_VALUE = "<erased>"
"""What the mirror holds of a merge field whose value belonged to an erased contact."""

_PER_CONTACT = (ConsentEventRow, RelationshipRow, ObjectionRow, HistoryRow)


def export_subject(ctx: AppContext, email: str) -> dict[str, Any]:
    """Everything held about the person, as one JSON-ready document."""
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, email)
        document: dict[str, Any] = {
            "exported_at": ctx.now().isoformat(),
            "contact": _plain(contact),
            "consent_events": [_with_notice(e) for e in _rows(session, ConsentEventRow, contact.id)],
            "relationships": _rows(session, RelationshipRow, contact.id),
            "objections": _rows(session, ObjectionRow, contact.id),
            "history": _rows(session, HistoryRow, contact.id),
            "suppressions": _suppressions(session, contact, ctx.suppression_key),
        }
    document["entitlement"] = entitlement_document(explain_contact(ctx, email))
    return document


def erase_subject(ctx: AppContext, email: str, origin: Origin) -> ErasureRow:
    """Remove the person's data; keep a suppression hash and a PII-free tombstone.

    The Mailchimp member is deleted (or archived, per ``policy.mailchimp_erasure``) by the next sync,
    which finds the tombstone's subscriber hash and clears it once Mailchimp confirmed.
    """
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, email)
        address = contact.email or ""
        suppress(session, address, ctx.suppression_key, SuppressionReason.ERASED, origin, now)
        for table in _PER_CONTACT:
            session.execute(delete(table).where(table.contact_id == contact.id))  # type: ignore[arg-type]
        session.delete(contact)
        tombstone = ErasureRow(
            contact_id=contact.id,
            erased_at=now,
            actor=origin.actor,
            source=origin.source,
            mailchimp_subscriber_hash=subscriber_hash(address),
        )
        session.add(tombstone)
        record_change(session, contact_id=contact.id, origin=origin, action="contact.erased", at=now)
        _scrub_received_webhooks(session, address)
        _scrub_sync_records(session, subscriber_hash(address), address)
        _scrub_notice_targets(session, address)
        session.execute(  # a notice's record of the delivery stays (sent at most once), the address goes
            update(NoticeDeliveryRow)
            .where(col(NoticeDeliveryRow.contact_id) == contact.id)
            .values(email="", merge_vars={})
        )
        for audience in ctx.settings.audiences:
            request_sync(session, audience.name, now)  # Mailchimp's part (P7) follows promptly
    return tombstone


def _scrub_sync_records(session: Session, key: str, address: str) -> None:
    """The mirror and stored operations keep only the subscriber hash the deletion needs (dropped once
    Mailchimp confirms it: ``purge_confirmed_erasures``); an operation not yet sent (``pending``, or held
    for a streamed run's guard) is never sent.

    The mirror keeps the member's tags (our own tag names, which identify nobody): if the person signs up
    again before the deletion reaches Mailchimp, the sync keeps the member and must still take off the
    marketing tags the erased contact had. For the same reason each merge field Mailchimp still holds a
    value in is kept as :data:`ERASED_VALUE` (a value that is nobody's), not dropped: the member kept for
    the person who came back then gets every such field overwritten with what the store holds now, and
    Mailchimp keeps nothing of the erased contact's name.
    """
    mirrored = session.execute(
        select(MirrorMemberRow).where(col(MirrorMemberRow.subscriber_hash) == key)
    ).scalars()
    for row in mirrored:
        row.merge_fields = {tag: ERASED_VALUE for tag, value in row.merge_fields.items() if value}
        row.email, row.contact_id = "", None
        session.add(row)
    operations = col(PlanOperationRow.subscriber_hash) == key
    session.execute(
        update(PlanOperationRow)
        .where(operations, col(PlanOperationRow.state).in_(("pending", *HELD)))
        .values(state="rejected", outcome="not sent: the person was erased")
    )
    session.execute(update(PlanOperationRow).where(operations).values(payload={}))
    session.execute(update(AdminRunRow).where(col(AdminRunRow.contact) == address).values(contact=""))


def _scrub_notice_targets(session: Session, address: str) -> None:
    """A notice aimed at a list of addresses forgets this one (what was sent to whom stays, by contact id)."""
    for notice in session.execute(select(NoticeRow)).scalars():
        target = dict(notice.spec.get("target") or {})
        emails = list(target.get("emails") or [])
        kept = [e for e in emails if str(e).lower() != address.lower()]
        if len(kept) != len(emails):
            notice.spec = {**notice.spec, "target": {**target, "emails": kept}}
            session.add(notice)


def _scrub_received_webhooks(session: Session, address: str) -> None:
    """Raw webhook bodies that name the address lose their text; their de-duplication keys stay."""
    inbox = col(WebhookInboxRow.body)
    for form in {quote_plus(address), quote(address, safe=""), address}:
        session.execute(update(WebhookInboxRow).where(inbox.contains(form)).values(body=ERASED_BODY))


def _with_notice(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``notice`` in words: its version, or "notice text not recorded" where unknown."""
    version = event.get("notice_version")
    if event.get("action") != "given":
        return event
    notice = NOTICE_NOT_RECORDED if version in (None, NOTICE_UNKNOWN) else f"notice {version}"
    return {**event, "notice": notice}


def _rows(session: Session, table: type[SQLModel], contact_id: str) -> list[dict[str, Any]]:
    column = getattr(table, "contact_id")  # noqa: B009 - every per-contact table has it
    found = session.execute(select(table).where(column == contact_id)).scalars()
    return [_plain(row) for row in found]


def _suppressions(session: Session, contact: ContactRow, key: bytes) -> list[dict[str, Any]]:
    if not contact.email:
        return []
    hashed = address_hash(contact.email, key)
    found = session.execute(select(SuppressionRow).where(SuppressionRow.address_hash == hashed))  # type: ignore[arg-type]
    return [_plain(row) for row in found.scalars()]


def _plain(row: SQLModel) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in row.model_dump().items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value
