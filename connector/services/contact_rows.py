"""A contact as Core rows: found by the address given (checked: an error names the field), created,
marked for the next sync.

The one-contact commands' path (``explain``, ``consent grant``) without the ORM, whose loading was a
fifth of their start; :mod:`connector.services.contacts` does the same through the ORM's session for
everything else, and the two write the same rows.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from connector.core.identity import IdentityError, normalise_email, normalise_phone
from connector.core.policy import decide, review_at
from connector.errors import InputError, NotFoundError
from connector.services.context import AppContext, Origin
from connector.services.history import change_values, insert_changes
from connector.store import core_tables
from connector.store.facts import Reader, load_contact_facts

ContactValues = Row[tuple[Any, ...]]
"""A contact's row of ``contacts``, every column by name (``.id``, ``.email``, …)."""


def checked_email(text: str, where: str = "email") -> str:
    try:
        return normalise_email(text)
    except IdentityError as exc:
        raise InputError(where, str(exc)) from None


def checked_phone(text: str | None, region: str, where: str = "phone") -> str | None:
    if text is None or not text.strip():
        return None
    try:
        return normalise_phone(text, region)
    except IdentityError as exc:
        raise InputError(where, str(exc)) from None


def find_contact_row(reader: Reader, address: str) -> ContactValues | None:
    """The contact of a checked address, or ``None``."""
    contacts = core_tables.contacts
    return reader.execute(select(*contacts.c).where(contacts.c.email == address)).one_or_none()


def require_contact_row(reader: Reader, email: str, where: str = "EMAIL") -> ContactValues:
    """The contact's row, as ``contacts.require_contact`` finds its ORM row."""
    row = find_contact_row(reader, checked_email(email, where))
    if row is None:
        raise NotFoundError(where, "no contact with this e-mail address")
    return row


def ensure_contact_row(
    connection: Connection, ctx: AppContext, email: str, origin: Origin, now: datetime
) -> ContactValues:
    """The contact of this address, created (with its history row) if new: ``contacts.ensure_contact``."""
    address = checked_email(email)
    found = find_contact_row(connection, address)
    if found is not None:
        return found
    contact_id = str(uuid.uuid4())
    given = {"email": address, "jurisdiction": ctx.settings.contacts.default_jurisdiction}
    values: dict[str, object] = {
        **dict.fromkeys(_GIVEN, None),
        **given,
        "id": contact_id,
        "processing_restricted": False,
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
        "next_review_at": None,
    }
    connection.execute(insert(core_tables.contacts), values)
    filled = sorted(k for k, v in given.items() if v is not None)
    change = change_values(
        contact_id=contact_id, origin=origin, action="contact.created", at=now, fields=filled
    )
    insert_changes(connection, [change])
    created = find_contact_row(connection, address)
    assert created is not None
    return created


_GIVEN = ("email", "phone", "first_name", "last_name", "external_id", "locale", "jurisdiction")
"""The columns of ``contacts.ContactInput``: what a person or an import gives."""


def mark_row_changed(connection: Connection, ctx: AppContext, contact: ContactValues, now: datetime) -> None:
    """The contact must be looked at by the next sync; its next review time is recomputed
    (``contacts.mark_changed``)."""
    facts = load_contact_facts(connection, contact, ctx.suppression_key)
    contacts = core_tables.contacts
    connection.execute(
        update(contacts)
        .where(contacts.c.id == contact.id)
        .values(
            changed_at=now,
            updated_at=now,
            next_review_at=review_at(facts, decide(facts, ctx.settings.policy, now)),
        )
    )
