"""Consent events: grant, confirm (double opt-in), withdraw. Append-only; one unit of work each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.policy_settings import PolicySettings
from connector.errors import InputError
from connector.services.contact_rows import ensure_contact_row, mark_row_changed
from connector.services.context import AppContext, Origin
from connector.services.history import add_change, change_values, insert_changes
from connector.store import core_tables

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.store.tables import ConsentEventRow, ContactRow


@dataclass(frozen=True, slots=True)
class Evidence:
    """How and when the person acted, as recorded with a consent event (docs/policy.md)."""

    occurred_at: datetime
    method: ConsentMethod
    notice_version: str | None = None
    ticked_by_person: bool = True
    ip: str | None = None
    user_agent: str | None = None
    recorded_by: Actor = Actor.STAFF
    source_ref: str | None = None
    double_opt_in_requested_at: datetime | None = None


def check_scope(policy: PolicySettings, purposes: Sequence[str], channel: Channel) -> None:
    """Every purpose must be configured and allow the channel; names the offending option."""
    if not purposes:
        raise InputError("--purpose", "name at least one purpose")
    for name in purposes:
        purpose = policy.purpose(name)
        if purpose is None:
            known = ", ".join(p.name for p in policy.purposes)
            raise InputError("--purpose", f"unknown purpose {name!r} (configured: {known})")
        if channel not in purpose.channels:
            allowed = ", ".join(c.value for c in purpose.channels)
            raise InputError(
                "--channel", f"purpose {name!r} does not use {channel.value} (allowed: {allowed})"
            )


def check_grant(evidence: Evidence) -> None:
    """A grant is recorded only as an act of consent with its evidence (P2)."""
    if not evidence.ticked_by_person:
        raise InputError("--pre-ticked", "a pre-ticked or unticked box is not consent; nothing was recorded")
    if not evidence.notice_version:
        raise InputError("--notice-version", "required for a grant: the version of the notice the person saw")


@dataclass(frozen=True, slots=True)
class RecordedConsent:
    """A consent event as recorded: the columns of its ``consent_events`` row."""

    id: str
    contact_id: str
    purpose: str
    channel: str
    action: str
    occurred_at: datetime
    recorded_at: datetime
    method: str
    source: str
    notice_version: str | None
    active_act: bool
    ip: str | None
    user_agent: str | None
    double_opt_in_requested_at: datetime | None
    recorded_by: str
    source_ref: str | None


def record_consent(
    ctx: AppContext,
    email: str,
    purposes: Sequence[str],
    channel: Channel,
    action: ConsentAction,
    evidence: Evidence,
    origin: Origin,
) -> list[RecordedConsent]:
    """Record one event per purpose for the contact (created if new), in one transaction.

    Core statements on one connection (a one-contact command loads no ORM); the rows are those
    :func:`add_consent_event` and ``contacts.mark_changed`` write through a session."""
    check_scope(ctx.settings.policy, purposes, channel)
    if action is ConsentAction.GIVEN:
        check_grant(evidence)
    now = ctx.now()
    with ctx.engine.begin() as connection:
        contact = ensure_contact_row(connection, ctx, email, origin, now)
        events = consent_event_values(contact.id, purposes, channel, action, evidence, origin, now)
        insert_consent_rows(connection, events)
        insert_changes(connection, [consent_change(values, origin, now) for values in events])
        mark_row_changed(connection, ctx, contact, now)
    return [RecordedConsent(**values) for values in events]


def add_consent_event(
    session: Session,
    contact: ContactRow,
    purpose: str,
    channel: Channel,
    action: ConsentAction,
    evidence: Evidence,
    origin: Origin,
    now: datetime,
) -> ConsentEventRow:
    from connector.store.tables import ConsentEventRow  # the ORM only for a session's rows

    values = _event_values(contact.id, purpose, channel, action, evidence, origin, now)
    row = ConsentEventRow(**values)
    session.add(row)
    add_change(session, consent_change(values, origin, now))
    return row


def consent_change(event: dict[str, Any], origin: Origin, now: datetime) -> dict[str, object]:
    """The history row (as :func:`change_values`) of a consent event given as column values."""
    return change_values(
        contact_id=event["contact_id"],
        origin=origin,
        action=f"consent.{event['action']}",
        at=now,
        record=event["id"],
        purpose=event["purpose"],
        channel=event["channel"],
    )


def consent_event_values(
    contact_id: str,
    purposes: Sequence[str],
    channel: Channel,
    action: ConsentAction,
    evidence: Evidence,
    origin: Origin,
    now: datetime,
) -> list[dict[str, Any]]:
    """:func:`add_consent_event`'s rows as column values, one per purpose, for :func:`insert_consent_rows`."""
    return [_event_values(contact_id, p, channel, action, evidence, origin, now) for p in purposes]


def insert_consent_rows(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Several consent events in one statement, without ORM objects (hot paths; history is the caller's)."""
    connection.execute(_INSERT_EVENTS, list(rows))


def _event_values(
    contact_id: str,
    purpose: str,
    channel: Channel,
    action: ConsentAction,
    evidence: Evidence,
    origin: Origin,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "contact_id": contact_id,
        "purpose": purpose,
        "channel": channel.value,
        "action": action.value,
        "occurred_at": evidence.occurred_at,
        "recorded_at": now,
        "method": evidence.method.value,
        "source": origin.source,
        "notice_version": evidence.notice_version,
        "active_act": evidence.ticked_by_person,
        "ip": evidence.ip,
        "user_agent": evidence.user_agent,
        "double_opt_in_requested_at": evidence.double_opt_in_requested_at,
        "recorded_by": evidence.recorded_by.value,
        "source_ref": evidence.source_ref,
    }


_INSERT_EVENTS = insert(core_tables.consent_events).inline()
"""``inline``: no RETURNING of the key (the ids are given), so it can run in a pipeline."""
