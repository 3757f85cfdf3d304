"""Perform a batch of webhook events' effects on the store, inside the caller's transaction.

Changes are recorded as the services record them (their row values and session-level functions), with
origin source ``mailchimp-webhook`` and ``occurred_at`` = the event's ``fired_at``, so the consent fold
orders webhooks by when they happened, not when they arrived.
"""

from collections.abc import Sequence, Set
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlmodel import Session, col

from connector.api.driver_rows import insert_rows, update_rows
from connector.core.consent import fold
from connector.core.identity import address_hash
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, SuppressionReason
from connector.core.remote import MemberStatus, subscriber_hash
from connector.core.specificity import NOTICE_UNKNOWN
from connector.core.webhook_events import (
    ChangeAddress,
    Confirm,
    Effect,
    EventType,
    Object,
    Suppress,
    UpdateProfile,
    WebhookEvent,
    Withdraw,
)
from connector.errors import InputError
from connector.services.consents import Evidence, consent_change, consent_event_values
from connector.services.contacts import (
    ContactInput,
    LoadedContact,
    checked_email,
    ensure_contact,
    fill_in_change,
    find_contact,
    normalised,
)
from connector.services.context import AppContext, Origin
from connector.services.history import record_change
from connector.services.objections import add_objection
from connector.services.suppressions import suppress
from connector.store import core_tables
from connector.store.facts import to_consent_event
from connector.store.sync_tables import MirrorMemberRow
from connector.store.tables import ConsentEventRow, ContactRow, SuppressionRow
from connector.sync.repermission_answers import confirm_member

log = structlog.get_logger("connector.api.effects")
WEBHOOK = Origin(actor="mailchimp", source="mailchimp-webhook")
PROFILE_FIELDS = frozenset({"phone", "first_name", "last_name", "external_id", "locale", "jurisdiction"})


Contact = LoadedContact | ContactRow
"""A batch's contact: its loaded values, or the ORM row once an effect needed one (or created it)."""

_CONTACTS = ContactRow.__table__  # type: ignore[attr-defined]
CONTACT_COLUMNS = tuple(_CONTACTS.c[f.name] for f in fields(LoadedContact))
"""The columns a :class:`LoadedContact` is built from, in its fields' order."""


def loaded_contact(values: Sequence[Any]) -> LoadedContact:
    """The contact from a row of :data:`CONTACT_COLUMNS`."""
    return LoadedContact(*values)


class Batch:
    """The state a batch's effects share: its contacts, loaded in one query, and the rows they add.

    Events are applied in arrival order against this state, so events of one person see each other.
    Consent events, history rows, mirror statuses and the loaded contacts' changes are kept as values
    and written one statement per table (per set of changed columns for contacts) by :meth:`write`.
    Effects that need the ORM (objection, suppression, address change, confirmation, a new contact)
    write what is pending first, so the history keeps the order things happened, and then work on the
    contact's ORM row (:meth:`row`).
    """

    def __init__(
        self,
        session: Session,
        ctx: AppContext,
        now: datetime,
        contacts: dict[str, LoadedContact | None],
        erased: Set[str],
    ) -> None:
        self.session, self.ctx, self.now, self.erased = session, ctx, now, erased
        self._contacts: dict[str, Contact | None] = dict(contacts)
        self._changed: dict[str, tuple[LoadedContact, set[str]]] = {}
        self.consent_events: list[dict[str, Any]] = []
        self.history: list[dict[str, object]] = []
        self.mirror_statuses: list[tuple[object, ...]] = []

    def contact(self, email: str) -> Contact | None:
        """The contact with this address, as the batch's earlier events left it."""
        if email not in self._contacts:  # an address the batch did not load (a normalised variant)
            with self.session.no_autoflush:
                self._contacts[email] = find_contact(self.session, email)
        return self._contacts[email]

    def known(self, contact: Contact, *addresses: str) -> None:
        """The contact is now found under ``addresses`` (created, or its address changed)."""
        for address in addresses:
            self._contacts[address] = contact

    def forget(self, address: str) -> None:
        self._contacts[address] = None

    def changed(self, contact: Contact, *columns: str) -> None:
        """The effects set these columns of the contact (an ORM row's are the session's to flush)."""
        if isinstance(contact, LoadedContact):
            self._changed.setdefault(contact.id, (contact, set()))[1].update(columns)

    def row(self, contact: Contact) -> ContactRow:
        """The contact's ORM row, loaded after what is pending is written; the batch uses it from now on."""
        if isinstance(contact, ContactRow):
            return contact
        self.write()
        row = self.session.get(ContactRow, contact.id)
        if row is None:  # loaded in this transaction, deleted by nobody since: a broken store
            raise LookupError("a contact the batch loaded is gone")
        for address, known in self._contacts.items():
            if known is contact:
                self._contacts[address] = row
        return row

    def write(self) -> None:
        """Write what the events so far changed: the session's rows first, then one statement per table."""
        self.session.flush()
        self.write_values()

    def write_values(self) -> None:
        """Only the rows kept as values, one statement per table (the caller flushed the session)."""
        connection = self.session.connection()
        for names, rows in self._contact_updates().items():
            update_rows(connection, core_tables.contacts, names, _BY_ID, rows)
        insert_rows(connection, core_tables.consent_events, self.consent_events)
        insert_rows(connection, core_tables.history, self.history)
        update_rows(connection, _MIRROR, _MIRROR_SETS, _MIRROR_TAKES_STATUS, self.mirror_statuses)
        self.consent_events, self.history, self.mirror_statuses = [], [], []

    def _contact_updates(self) -> dict[tuple[str, ...], list[tuple[object, ...]]]:
        """One UPDATE per set of changed columns: each changed contact's current values, then its id."""
        by_columns: dict[tuple[str, ...], list[tuple[object, ...]]] = {}
        for contact, columns in self._changed.values():
            names = tuple(sorted(columns))
            by_columns.setdefault(names, []).append((*(getattr(contact, n) for n in names), contact.id))
        self._changed = {}
        return by_columns


_BY_ID = (("id", "="),)


class _Target:
    """The event's contact, looked up in the batch and created only by effects that must never be lost."""

    def __init__(self, batch: Batch, email: str | None) -> None:
        self.batch, self.session, self.ctx, self.now = batch, batch.session, batch.ctx, batch.now
        self.email = email
        self.contact = batch.contact(email) if email else None

    def ensure(self, *, signed_up_again: bool = False) -> Contact | None:
        """The contact, created if new. An erased person is re-created only by their own new sign-up."""
        if self.contact is None and self.email:
            if not signed_up_again and self.email in self.batch.erased:
                return None
            self.batch.write()  # the new contact's history after what came before it
            try:
                self.contact = ensure_contact(self.session, self.ctx, self.email, WEBHOOK, self.now)
            except InputError:
                return None
            self.batch.known(self.contact, self.email, self.contact.email or self.email)
        return self.contact


def apply_effects(batch: Batch, event: WebhookEvent, found: Sequence[Effect], audience: str) -> bool:
    """Apply ``found``; marks the contact changed if anything changed, and says whether it did.

    The caller asks for a prompt sync of ``audience`` when this returns true (once per transaction),
    and calls :meth:`Batch.write` after the batch's last event.
    """
    target = _Target(batch, event.email)
    list_id = event.list_id or ""  # the mirror is of the list the event came from
    touched = [_apply_one(target, effect, list_id) for effect in found]
    reported = _mirror_follows(batch, list_id, event)
    if (any(touched) or reported) and target.contact is not None and target.contact.email is not None:
        touch(batch, target.contact)  # a status Mailchimp reported changes the next plan as much
    return any(touched)


_STATUS_REPORTED = {
    EventType.UNSUBSCRIBE: MemberStatus.UNSUBSCRIBED,
    EventType.CLEANED: MemberStatus.CLEANED,
    EventType.SUBSCRIBE: MemberStatus.SUBSCRIBED,
}
"""The member's status a webhook reports. A subscribe counts as much as an unsubscribe: a person who
re-subscribes through Mailchimp's own confirmation is ``subscribed`` there again, and a mirror still
saying ``unsubscribed`` would keep them out of every marketing tag ("nothing to change")."""


def _mirror_follows(batch: Batch, list_id: str, event: WebhookEvent) -> bool:
    """Mailchimp reported the member's new status: the mirror takes it, so reconcile does not re-record it
    and the next plan starts from what Mailchimp holds (whether or not the event was consent, P6).
    Whether the event reported a status.

    The mirror takes it only when the event is news: one fired before the mirror row was last confirmed
    (a delivery retried or reordered, such as a sign-up arriving after the member was archived) says
    nothing about the member now, and taking it would make a complete read that no longer shows the
    archived member look like a deletion in Mailchimp. ``fired_at`` has whole seconds, so an event of
    the same second counts as news.
    """
    status = _STATUS_REPORTED.get(event.type)
    if status is None or not event.email or not list_id:
        return False
    news_before = (event.fired_at or batch.now) + SECOND
    values = (status.value, batch.now, list_id, subscriber_hash(event.email), status.value, news_before)
    batch.mirror_statuses.append(values)  # one UPDATE per batch, no load (``_MIRROR_TAKES_STATUS``)
    return True


_MIRROR = MirrorMemberRow.__table__  # type: ignore[attr-defined]
_MIRROR_SETS = ("status", "confirmed_at")
_MIRROR_TAKES_STATUS = (("list_id", "="), ("subscriber_hash", "="), ("status", "!="), ("confirmed_at", "<"))
"""The member's row takes the reported status where it has another one and was confirmed before the
event (``_mirror_follows``): set status, confirmed_at; where list, hash, status differs, older."""


def touch(batch: Batch, contact: Contact) -> None:
    """Mark the contact changed for the next sync, which recomputes its review time when it plans.

    Cheaper than ``mark_changed`` (no facts load and decision per event), and as safe: the sync this
    event requests loads every contact changed since the last one and refreshes ``next_review_at``.
    """
    contact.changed_at = batch.now
    contact.updated_at = batch.now
    batch.changed(contact, "changed_at", "updated_at")


def _apply_one(target: _Target, effect: Effect, list_id: str) -> bool:
    match effect:
        case Withdraw():
            return _withdraw(target, effect)
        case Object():
            return _object(target, effect)
        case Suppress():
            return _suppress(target, effect.reason)
        case ChangeAddress():
            return _change_address(target, effect, list_id)
        case UpdateProfile():
            return _update_profile(target, effect)
        case Confirm():
            return _confirm(target, effect, list_id)


def _withdraw(target: _Target, effect: Withdraw) -> bool:
    contact = target.ensure()
    if contact is None:
        return False
    evidence = Evidence(
        occurred_at=effect.at,
        method=ConsentMethod.MAILCHIMP,
        recorded_by=Actor.PERSON,
        source_ref=effect.evidence,
    )
    _add_consent_events(target, contact, effect.purposes, ConsentAction.WITHDRAWN, evidence)
    return True


def _add_consent_events(
    target: _Target,
    contact: Contact,
    purposes: Sequence[str],
    action: ConsentAction,
    evidence: Evidence,
) -> None:
    """One consent event per purpose and its history row, written with the batch's."""
    events = consent_event_values(contact.id, purposes, Channel.EMAIL, action, evidence, WEBHOOK, target.now)
    target.batch.consent_events += events
    target.batch.history += [consent_change(event, WEBHOOK, target.now) for event in events]


def _object(target: _Target, effect: Object) -> bool:
    target.batch.write()  # the objection's history after what came before it
    contact = target.ensure()
    if contact is None:
        return False
    target.contact = row = target.batch.row(contact)  # the event's later effects and touch use it too
    add_objection(target.session, row, WEBHOOK, target.now, effect.at, None, None, effect.reason)
    return True


def _suppress(target: _Target, reason: SuppressionReason) -> bool:
    if not target.email:
        return False
    target.batch.write()  # the suppression's history after what came before it
    contact_id = target.contact.id if target.contact else None
    suppress(
        target.session, target.email, target.ctx.suppression_key, reason, WEBHOOK, target.now, contact_id
    )
    return True


def _change_address(target: _Target, effect: ChangeAddress, list_id: str) -> bool:
    session, batch = target.session, target.batch
    try:
        old, new = checked_email(effect.old_email), checked_email(effect.new_email)
    except InputError:
        return False
    known = batch.contact(old)
    holder = batch.contact(new)
    if known is None or holder is not None:
        log.info("webhook.upemail.skipped", known=known is not None)
        if known is not None and holder is not None:
            _moved_onto_another_contact(target, list_id, old, new, (known, holder))
        return False
    batch.write()  # the address change's history after what came before it
    contact = batch.row(known)
    contact.email = new
    session.add(contact)
    session.flush()  # the unique address is checked here, in order
    batch.forget(old)
    batch.known(contact, new)  # later events of the batch find the contact by its new address
    record_change(
        session, contact_id=contact.id, origin=WEBHOOK, action="contact.email_changed", at=target.now
    )
    _carry_suppressions(target, old, new, contact.id)
    _move_mirror(session, list_id, old, new)
    target.contact = contact
    return True


def _moved_onto_another_contact(
    target: _Target, list_id: str, old: str, new: str, contacts: tuple[Contact, Contact]
) -> None:
    """Mailchimp moved a member onto an address another contact of ours holds: the store keeps both
    contacts as they are, but the mirror follows Mailchimp (the member, its tags included, is now at
    ``new``) and both contacts are marked, so the next plan takes the tags off ``new`` unless that
    contact is entitled to them, and adds ``old``'s contact again."""
    target.batch.write()
    _move_mirror(target.session, list_id, old, new, replace=True)
    for contact in contacts:
        touch(target.batch, contact)


def _carry_suppressions(target: _Target, old: str, new: str, contact_id: str) -> None:
    key = target.ctx.suppression_key
    query = select(col(SuppressionRow.reason)).where(
        col(SuppressionRow.address_hash) == address_hash(old, key)
    )
    for reason in target.session.execute(query).scalars().all():
        suppress(target.session, new, key, SuppressionReason(reason), WEBHOOK, target.now, contact_id)


def _move_mirror(session: Session, list_id: str, old: str, new: str, *, replace: bool = False) -> None:
    """The mirror row of ``old`` becomes ``new``'s; with ``replace`` over a row ``new`` already has."""
    row = session.get(MirrorMemberRow, (list_id, subscriber_hash(old)))
    there = session.get(MirrorMemberRow, (list_id, subscriber_hash(new)))
    if row is None or (there is not None and not replace):
        return
    values = {**row.model_dump(), "subscriber_hash": subscriber_hash(new), "email": new}
    if there is not None:
        values["contact_id"] = there.contact_id
        session.delete(there)
    session.delete(row)
    session.flush()
    session.add(MirrorMemberRow(**values))


def _update_profile(target: _Target, effect: UpdateProfile) -> bool:
    contact = target.contact
    fields = {k: v for k, v in effect.fields.items() if k in PROFILE_FIELDS and v.strip()}
    if contact is None or contact.email is None:
        return False
    if all(getattr(contact, k) == v.strip() for k, v in fields.items()):
        return False
    try:
        clean = normalised(
            ContactInput(email=contact.email, **fields), target.ctx.settings.contacts.default_region
        )
    except InputError as exc:
        log.info("webhook.profile.field_refused", field=exc.where)
        return False
    change = fill_in_change(contact, clean, WEBHOOK, target.now)
    if change is not None:
        target.batch.changed(contact, "updated_at", *_filled_in(change))
        target.batch.history.append(change)
    return True


def _filled_in(change: dict[str, object]) -> list[str]:
    """The contact columns a fill-in's history row names (its ``detail.fields``)."""
    detail = change["detail"]
    assert isinstance(detail, dict)
    return [str(name) for name in detail["fields"]]


def _confirm(target: _Target, effect: Confirm, list_id: str) -> bool:
    """A subscribe confirms our own sign-ups awaiting double opt-in; a trusted one (P6) is also a grant
    of the purposes it covers, confirmed only if Mailchimp had the member ``pending`` (its double opt-in)."""
    if _repermission_confirmed(target, effect, list_id):
        return True
    pending = effect.trusted and _pending_in_mailchimp(target, list_id)
    contact = (
        target.ensure(signed_up_again=True) if effect.trusted and effect.coverage.granted else target.contact
    )
    if contact is not None:
        target.batch.write()  # the batch's earlier consent events are read here
    waiting = _awaiting_confirmation(target.session, contact, effect) if contact else {}
    if contact is None:
        return False
    for purpose, asked_at in waiting.items():
        # fired_at has whole seconds: never date the confirmation before the sign-up it confirms
        _record(
            target, contact, (purpose,), ConsentAction.CONFIRMED, max(effect.at, asked_at), effect, list_id
        )
    # confirming our own sign-up is not a new Mailchimp sign-up: it grants nothing more
    granted = list(effect.coverage.granted) if effect.trusted and not waiting else []
    if granted:
        _record(target, contact, granted, ConsentAction.GIVEN, effect.at, effect, list_id, pending=pending)
        if pending:
            _record(target, contact, granted, ConsentAction.CONFIRMED, effect.at, effect, list_id)
    if effect.coverage.not_covered:
        log.info("webhook.subscribe.not_covered", purposes=[p for p, _ in effect.coverage.not_covered])
    return bool(waiting or granted)


def _repermission_confirmed(target: _Target, effect: Confirm, list_id: str) -> bool:
    """The subscribe answers a re-permission campaign that asked this person: a fresh, confirmed consent
    with the campaign's notice version, and nothing else (not a new Mailchimp sign-up)."""
    contact = target.contact
    if contact is None or not list_id:
        return False
    target.batch.write()  # the batch's earlier events first
    return confirm_member(target.session, contact.id, list_id, effect.at, effect.ip, target.now)


def _pending_in_mailchimp(target: _Target, list_id: str) -> bool:
    """The mirror had the member ``pending``: this subscribe is Mailchimp's double opt-in confirmation."""
    if not target.email or not list_id:
        return False
    target.batch.write()  # the mirror statuses of the batch's earlier events first
    row = target.session.get(MirrorMemberRow, (list_id, subscriber_hash(target.email)))
    return row is not None and row.status == MemberStatus.PENDING.value


def _record(
    target: _Target,
    contact: Contact,
    purposes: Sequence[str],
    action: ConsentAction,
    at: datetime,
    effect: Confirm,
    list_id: str,
    *,
    pending: bool = False,
) -> None:
    given = action is ConsentAction.GIVEN
    evidence = Evidence(
        occurred_at=at,
        method=ConsentMethod.MAILCHIMP,
        notice_version=(effect.notice_version or NOTICE_UNKNOWN) if given else None,
        ip=effect.ip,
        recorded_by=Actor.PERSON,
        source_ref=f"mailchimp subscribe webhook, list {list_id or 'unknown'}",
        double_opt_in_requested_at=at if pending else None,
    )
    _add_consent_events(target, contact, purposes, action, evidence)


SECOND = timedelta(seconds=1)


def _awaiting_confirmation(session: Session, contact: Contact, effect: Confirm) -> dict[str, datetime]:
    """Purpose → sign-up time of each live, unconfirmed grant that asked for double opt-in by then."""
    query = select(ConsentEventRow).where(col(ConsentEventRow.contact_id) == contact.id)
    events = [to_consent_event(row) for row in session.execute(query).scalars()]
    waiting = {}
    for (purpose, channel), state in fold(events).items():
        grant = state.grant
        if channel is not Channel.EMAIL or purpose not in effect.purposes or grant is None:
            continue
        if (
            state.confirmation is None
            and grant.double_opt_in_requested_at is not None
            and grant.occurred_at < effect.at + SECOND
        ):
            waiting[purpose] = grant.occurred_at
    return waiting
