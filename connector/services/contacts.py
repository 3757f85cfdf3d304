"""Contacts: create or update, find by address, and keep their review times current."""

import uuid
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlmodel import Session

from connector.core.policy import decide, review_at
from connector.errors import NotFoundError
from connector.services.contact_rows import (
    checked_email as checked_email,
)  # re-exported: callers import it here
from connector.services.contact_rows import checked_phone
from connector.services.context import AppContext, Origin
from connector.services.history import add_change, change_values, record_change
from connector.store.facts import load_contact_facts
from connector.store.tables import ContactRow


@dataclass(frozen=True, slots=True)
class ContactInput:
    email: str
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    external_id: str | None = None
    locale: str | None = None
    jurisdiction: str | None = None


@dataclass(slots=True)
class LoadedContact:
    """A contact's values loaded as plain values, no ORM object (the webhook batch writes its changes as
    Core updates)."""

    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    external_id: str | None
    locale: str | None
    jurisdiction: str | None
    updated_at: datetime
    changed_at: datetime


ContactFields = ContactRow | LoadedContact
"""What filling in reads and sets: a loaded ``ContactRow``, or a webhook batch's values of one."""


_UPDATABLE = ("phone", "first_name", "last_name", "external_id", "locale", "jurisdiction")


def normalised(data: ContactInput, region: str) -> ContactInput:
    return ContactInput(
        email=checked_email(data.email),
        phone=checked_phone(data.phone, region),
        first_name=_clean(data.first_name),
        last_name=_clean(data.last_name),
        external_id=_clean(data.external_id),
        locale=_clean(data.locale),
        jurisdiction=_clean(data.jurisdiction),
    )


def find_contact(session: Session, email: str) -> ContactRow | None:
    row: ContactRow | None = session.execute(_BY_EMAIL, {"email": email}).scalar_one_or_none()
    return row


_BY_EMAIL = select(ContactRow).where(ContactRow.email == bindparam("email"))  # type: ignore[arg-type]
"""Built once: constructing the statement per call cost more than the cached execution."""


def require_contact(session: Session, email: str, where: str = "EMAIL") -> ContactRow:
    contact = find_contact(session, checked_email(email, where))
    if contact is None:
        raise NotFoundError(where, "no contact with this e-mail address")
    return contact


def upsert_contact(
    session: Session, ctx: AppContext, data: ContactInput, origin: Origin, now: datetime
) -> tuple[ContactRow, bool]:
    """Create the contact, or fill in the fields given; returns the row and whether it was created.

    A contact created or changed is marked for the next sync in this unit of work: its merge fields
    (names) are part of what Mailchimp holds."""
    clean = normalised(data, ctx.settings.contacts.default_region)
    contact = find_contact(session, clean.email)
    if contact is None:
        return _create(session, ctx, clean, origin, now), True
    if _fill_in(session, contact, clean, origin, now):
        mark_changed(session, ctx, contact, now)
    return contact, False


def fill_in(contact: ContactFields, clean: ContactInput) -> list[str]:
    """Set the fields given (normalised) on a loaded contact; the names of those that changed."""
    return [name for name in _UPDATABLE if _update_field(contact, name, getattr(clean, name))]


def fill_in_change(
    contact: ContactFields, clean: ContactInput, origin: Origin, now: datetime
) -> dict[str, object] | None:
    """:func:`fill_in`, and if anything changed the contact's ``updated_at`` and the history row to record
    (as :func:`change_values`); ``None`` if nothing changed."""
    changed = fill_in(contact, clean)
    if not changed:
        return None
    contact.updated_at = now
    return change_values(
        contact_id=contact.id, origin=origin, action="contact.updated", at=now, fields=changed
    )


def _fill_in(
    session: Session, contact: ContactRow, clean: ContactInput, origin: Origin, now: datetime
) -> bool:
    """Whether anything changed (then its history row is added)."""
    change = fill_in_change(contact, clean, origin, now)
    if change is not None:
        add_change(session, change)
    return change is not None


def ensure_contact(
    session: Session, ctx: AppContext, email: str, origin: Origin, now: datetime
) -> ContactRow:
    return upsert_contact(session, ctx, ContactInput(email=email), origin, now)[0]


def mark_changed(session: Session, ctx: AppContext, contact: ContactRow, now: datetime) -> None:
    """The contact must be looked at by the next sync; its next review time is recomputed."""
    session.flush()
    facts = load_contact_facts(session, contact, ctx.suppression_key)
    contact.changed_at = now
    contact.updated_at = now
    contact.next_review_at = review_at(facts, decide(facts, ctx.settings.policy, now))


def _create(
    session: Session, ctx: AppContext, data: ContactInput, origin: Origin, now: datetime
) -> ContactRow:
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values["jurisdiction"] = values["jurisdiction"] or ctx.settings.contacts.default_jurisdiction
    contact = ContactRow(id=str(uuid.uuid4()), created_at=now, updated_at=now, changed_at=now, **values)
    session.add(contact)
    session.flush()  # rows that refer to the contact may follow in this unit of work
    filled = sorted(k for k, v in values.items() if v is not None)
    record_change(
        session, contact_id=contact.id, origin=origin, action="contact.created", at=now, fields=filled
    )
    return contact


def _update_field(contact: ContactFields, name: str, value: str | None) -> bool:
    if value is None or getattr(contact, name) == value:
        return False
    setattr(contact, name, value)
    return True


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None
