"""Consent capture for sign-up forms: record the requested consent, then start exactly one double opt-in.

Double opt-in goes through Mailchimp (the member is PUT ``pending``; Mailchimp mails the confirmation
and its ``subscribe`` webhook confirms) or through our own signed link, per
``consent_capture.confirmation``. Only the person who just signed up is ever asked (P5).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import structlog
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from connector.api.link_tokens import read_token, sign_token
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.remote import MemberStatus, subscriber_hash
from connector.errors import ConfigError
from connector.mailchimp.payloads import MemberOutcome, MemberWrite
from connector.services.consents import Evidence, RecordedConsent, add_consent_event, record_consent
from connector.services.contacts import mark_changed
from connector.services.context import AppContext, Origin
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.connect import open_gateway

log = structlog.get_logger("connector.api.capture")


def confirmation_key(ctx: AppContext) -> bytes:
    key = ctx.settings.security.confirmation_key
    if key is None:
        raise ConfigError(
            "security.confirmation_key: needed for consent_capture.confirmation = 'link'; "
            "set CONSENT_SYNC_SECURITY__CONFIRMATION_KEY"
        )
    return key.get_secret_value().encode()


def record_sign_up(
    ctx: AppContext, email: str, purposes: Sequence[str], channel: Channel, evidence: Evidence, origin: Origin
) -> list[RecordedConsent]:
    """The GIVEN events of one sign-up, each waiting for its double opt-in.

    Two first sign-ups of one new address at once both try to create its contact; the one that loses
    that race is recorded again, onto the contact the other created.
    """
    try:
        return record_consent(ctx, email, purposes, channel, ConsentAction.GIVEN, evidence, origin)
    except IntegrityError:
        log.info("consent.sign_up.contact_race")
        return record_consent(ctx, email, purposes, channel, ConsentAction.GIVEN, evidence, origin)


class RecordedGrant(Protocol):
    """What a confirmation link needs of a recorded grant (a ``RecordedConsent`` or its stored row)."""

    @property
    def id(self) -> str: ...

    @property
    def contact_id(self) -> str: ...


def confirmation_link(ctx: AppContext, rows: Sequence[RecordedGrant]) -> str:
    """Our signed, expiring link confirming exactly these grants."""
    capture = ctx.settings.consent_capture
    expires = ctx.now() + timedelta(hours=capture.link_valid_hours)
    payload: dict[str, object] = {
        "c": rows[0].contact_id,
        "g": [row.id for row in rows],
        "exp": int(expires.timestamp()),
    }
    token = sign_token(confirmation_key(ctx), payload)
    return f"{capture.public_base_url.rstrip('/')}/consents/confirm/{token}"


@dataclass(frozen=True, slots=True)
class Link:
    """What a valid confirmation link names: a contact and the grant events it confirms."""

    contact_id: str
    grant_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The purposes a link confirms; ``newly``: this request recorded them (not a repeat)."""

    purposes: tuple[str, ...]
    newly: bool


def read_link(ctx: AppContext, token: str) -> Link | None:
    """The link ``token`` is, if it is ours and not expired; ``None`` otherwise. Reads nothing else."""
    payload = read_token(confirmation_key(ctx), token, int(ctx.now().timestamp()))
    grants = payload.get("g") if payload else None
    if payload is None or not isinstance(grants, list):
        return None
    return Link(contact_id=str(payload.get("c")), grant_ids=tuple(str(g) for g in grants))


def link_purposes(ctx: AppContext, link: Link) -> tuple[str, ...] | None:
    """The purposes the link would confirm (read only); ``None`` if its contact no longer exists."""
    with unit_of_work(ctx.engine) as session:
        if session.get(ContactRow, link.contact_id) is None:
            return None
        return tuple(sorted(row.purpose for row in _grants(session, link)))


def confirm_by_link(ctx: AppContext, token: str) -> Confirmation | None:
    """Confirm the grants a valid link names (once; a repeat changes nothing); ``None`` if invalid.

    The contact's row is locked first (an update, the transaction's first statement: a row lock on
    PostgreSQL, the write lock on SQLite), so two concurrent confirmations record one confirmation.
    """
    link = read_link(ctx, token)
    if link is None:
        return None
    now = ctx.now()
    origin = Origin(actor="person", source="consent-confirmation-link")
    with unit_of_work(ctx.engine) as session:
        if not _lock_contact(session, link.contact_id):
            return None
        contact = session.get(ContactRow, link.contact_id)
        if contact is None:
            return None
        given = _grants(session, link)
        done = _confirmed_refs(session, contact.id)
        todo = [row for row in given if f"confirm:{row.id}" not in done]
        for row in todo:
            evidence = Evidence(
                occurred_at=now,
                method=ConsentMethod(row.method),
                recorded_by=Actor.PERSON,
                source_ref=f"confirm:{row.id}",
            )
            channel = Channel(row.channel)
            add_consent_event(
                session, contact, row.purpose, channel, ConsentAction.CONFIRMED, evidence, origin, now
            )
        if todo:
            mark_changed(session, ctx, contact, now)
        return Confirmation(purposes=tuple(sorted(row.purpose for row in given)), newly=bool(todo))


def _lock_contact(session: Session, contact_id: str) -> bool:
    """Take the contact's row lock for this transaction (changing nothing); whether the row exists."""
    result = session.connection().execute(_LOCK_CONTACT, {"id": contact_id})
    return bool(getattr(result, "rowcount", 0))


_LOCK_CONTACT = text("UPDATE contacts SET updated_at = updated_at WHERE id = :id")


def _grants(session: Session, link: Link) -> list[ConsentEventRow]:
    query = select(ConsentEventRow).where(col(ConsentEventRow.id).in_(link.grant_ids))
    return [row for row in session.execute(query).scalars() if row.contact_id == link.contact_id]


def _confirmed_refs(session: Session, contact_id: str) -> set[str]:
    query = select(col(ConsentEventRow.source_ref)).where(
        col(ConsentEventRow.contact_id) == contact_id,
        col(ConsentEventRow.action) == ConsentAction.CONFIRMED.value,
    )
    return {ref for ref in session.execute(query).scalars() if ref}


def ask_mailchimp_to_confirm(ctx: AppContext, email: str) -> None:
    """Background task: PUT the member ``pending`` so Mailchimp sends its one confirmation e-mail.

    A member Mailchimp already shows ``subscribed`` gets no e-mail (nothing to confirm there); the
    grant then waits for reconcile or a confirmation link.
    """
    list_id = _capture_list_id(ctx)
    if list_id is None:
        log.warning("consent.double_opt_in.no_audience")
        return
    try:
        with open_gateway(ctx.settings.mailchimp) as gateway:
            current = gateway.get_member(list_id, subscriber_hash(email))
            if current is not None and current.status is MemberStatus.SUBSCRIBED:
                log.info("consent.double_opt_in.already_subscribed")
                return
            member = MemberWrite(email, status=MemberStatus.PENDING, status_if_new=MemberStatus.PENDING)
            result = gateway.upsert_member(list_id, member)
    except Exception as exc:
        log.error("consent.double_opt_in.failed", error=type(exc).__name__)
        return
    if isinstance(result, MemberOutcome):
        log.warning("consent.double_opt_in.rejected", kind=result.kind.value, message=result.message)
    else:
        log.info("consent.double_opt_in.requested", status=result.status.value)


def _capture_list_id(ctx: AppContext) -> str | None:
    capture = ctx.settings.consent_capture
    audience = ctx.settings.audience(capture.audience or ctx.settings.audiences[0].name)
    if audience.list_id:
        return audience.list_id
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, audience.name)
        return state.list_id if state is not None else None
