"""The self-service privacy page's service: what the page shows, and the choices a person makes on it.

Every choice is an ordinary record (a consent event, an objection, an erasure) with the person as actor
and the page as source, made under the contact's row lock and only when it changes something: a double
submit, a replayed form or two tabs record one event, never two.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session, col

from connector.core.model import Actor, Basis, Channel, ConsentAction, ConsentMethod, Decision
from connector.errors import InputError
from connector.services.consents import Evidence, add_consent_event
from connector.services.contacts import mark_changed
from connector.services.context import AppContext, Origin
from connector.services.explain import Explanation, explain_contact
from connector.services.objections import add_objection
from connector.services.subjects import erase_subject, export_subject
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.store.tables import ConsentEventRow, ContactRow, ObjectionRow

SOURCE = "privacy-page"
ORIGIN = Origin(actor="person", source=SOURCE)


@dataclass(frozen=True, slots=True)
class Choice:
    """One purpose × channel as the page offers it."""

    purpose: str
    channel: Channel
    label: str
    decision: Decision | None
    state: str | None
    """The last consent act for it: ``given`` (waiting for confirmation), ``confirmed``, ``withdrawn``."""
    objected: bool

    @property
    def key(self) -> str:
        return f"{self.purpose}:{self.channel.value}"

    @property
    def allowed(self) -> bool:
        return self.decision is not None and self.decision.allowed

    @property
    def awaiting_confirmation(self) -> bool:
        return self.state == ConsentAction.GIVEN.value and not self.allowed

    @property
    def can_stop(self) -> bool:
        """Withdrawn or objected to by one click: allowed now, or a grant still waiting to be confirmed."""
        return self.allowed or self.awaiting_confirmation

    @property
    def can_grant(self) -> bool:
        if self.allowed or self.awaiting_confirmation:
            return False
        return not self.objected


@dataclass(frozen=True, slots=True)
class MirrorState:
    audience: str
    status: str
    tags: tuple[str, ...]
    merge_fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PageView:
    """Everything the page shows of one contact."""

    contact_id: str
    email: str
    locale: str | None
    document: dict[str, Any]
    """The same document ``subject export`` prints."""
    explanation: Explanation
    choices: tuple[Choice, ...]
    mirror: tuple[MirrorState, ...]
    pending_sync: bool
    """A change made since the last sync: Mailchimp does not show it yet."""
    objected_to_all: bool
    events: tuple[dict[str, Any], ...] = field(default=())


def contact_email(ctx: AppContext, contact_id: str) -> str | None:
    """The stored address of the contact, or ``None`` when it does not exist (erased) or has none."""
    with unit_of_work(ctx.engine) as session:
        contact = session.get(ContactRow, contact_id)
        return contact.email if contact is not None else None


def page_view(ctx: AppContext, contact_id: str) -> PageView | None:
    """What the page of ``contact_id`` shows; ``None`` if the contact does not exist (any more)."""
    email = contact_email(ctx, contact_id)
    if email is None:
        return None
    document = export_subject(ctx, email)
    explanation = explain_contact(ctx, email)
    with unit_of_work(ctx.engine) as session:
        contact = session.get(ContactRow, contact_id)
        if contact is None:
            return None
        states = _consent_states(session, contact_id)
        objections = _objections(session, contact_id)
        mirror = _mirror(session, contact_id)
        pending = _pending_sync(session, ctx, contact)
        locale = contact.locale
        has_phone = bool(contact.phone)
    choices = _choices(ctx, explanation, states, objections, has_phone)
    events = tuple(sorted(document["consent_events"], key=lambda e: (e["occurred_at"], e["recorded_at"])))
    return PageView(
        contact_id=contact_id,
        email=email,
        locale=locale,
        document=document,
        explanation=explanation,
        choices=choices,
        mirror=mirror,
        pending_sync=pending,
        objected_to_all=(None, None) in objections,
        events=events,
    )


def _choices(
    ctx: AppContext,
    explanation: Explanation,
    states: dict[tuple[str, str], str],
    objections: set[tuple[str | None, str | None]],
    has_phone: bool,
) -> tuple[Choice, ...]:
    decisions = {(d.purpose, d.channel): d for d in explanation.entitlement.marketing}
    found: list[Choice] = []
    for purpose in ctx.settings.policy.purposes:
        for channel in purpose.channels:
            if channel is Channel.SMS and not has_phone:
                continue
            objected = bool(
                objections
                & {(None, None), (purpose.name, None), (None, channel.value), (purpose.name, channel.value)}
            )
            found.append(
                Choice(
                    purpose.name,
                    channel,
                    purpose.label,
                    decisions.get((purpose.name, channel)),
                    states.get((purpose.name, channel.value)),
                    objected,
                )
            )
    return tuple(found)


def _consent_states(session: Session, contact_id: str) -> dict[tuple[str, str], str]:
    query = (
        select(ConsentEventRow)
        .where(col(ConsentEventRow.contact_id) == contact_id)
        .order_by(col(ConsentEventRow.occurred_at), col(ConsentEventRow.recorded_at))
    )
    states: dict[tuple[str, str], str] = {}
    for row in session.execute(query).scalars():
        states[(row.purpose, row.channel)] = row.action
    return states


def _objections(session: Session, contact_id: str) -> set[tuple[str | None, str | None]]:
    query = select(ObjectionRow).where(col(ObjectionRow.contact_id) == contact_id)
    return {(row.purpose, row.channel) for row in session.execute(query).scalars()}


def _mirror(session: Session, contact_id: str) -> tuple[MirrorState, ...]:
    query = select(MirrorMemberRow).where(col(MirrorMemberRow.contact_id) == contact_id)
    return tuple(
        MirrorState(
            row.audience,
            row.status,
            tuple(sorted(row.tags)),
            tuple(sorted((k, v) for k, v in row.merge_fields.items() if v)),
        )
        for row in session.execute(query).scalars()
    )


def _pending_sync(session: Session, ctx: AppContext, contact: ContactRow) -> bool:
    """Changed after the last sync of some audience (or never synced): Mailchimp may not show it yet."""
    for audience in ctx.settings.audiences:
        state = session.get(AudienceStateRow, audience.name)
        last = state.last_sync_at if state is not None else None
        if last is None or _aware(last) < _aware(contact.changed_at):
            return True
    return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Act:
    """The evidence of one act on the page: when, the notice version shown, and the browser's IP/agent."""

    at: datetime
    notice_version: str
    ip: str | None
    user_agent: str | None

    def evidence(self, *, double_opt_in: bool = False) -> Evidence:
        return Evidence(
            occurred_at=self.at,
            method=ConsentMethod.FORM,
            notice_version=self.notice_version,
            ticked_by_person=True,
            ip=self.ip,
            user_agent=self.user_agent,
            recorded_by=Actor.PERSON,
            source_ref=SOURCE,
            double_opt_in_requested_at=self.at if double_opt_in else None,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a choice recorded: the new consent events (ids) and objections; empty: nothing changed."""

    consent_events: tuple[ConsentEventRow, ...] = ()
    objections: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.consent_events) or self.objections > 0


def parse_choice_key(ctx: AppContext, key: str) -> tuple[str, Channel]:
    """``purpose:channel`` of a configured purpose that uses the channel; ``InputError`` otherwise."""
    name, _, channel_text = key.partition(":")
    purpose = ctx.settings.policy.purpose(name)
    channel = Channel(channel_text) if channel_text in {c.value for c in Channel} else None
    if purpose is None or channel is None or channel not in purpose.channels:
        raise InputError("choice", f"unknown purpose or channel {key[:80]!r}")
    return name, channel


def _key(purpose: str, channel: Channel) -> str:
    return f"{purpose}:{channel.value}"


def double_opt_in_required(ctx: AppContext) -> bool:
    policy = ctx.settings.policy
    return policy.require_double_opt_in and ConsentMethod.FORM in policy.double_opt_in_methods


def grant(ctx: AppContext, contact_id: str, keys: Sequence[str], act: Act) -> Outcome:
    """The person ticked these boxes: a GIVEN event each that is not already allowed or waiting."""
    wanted = [parse_choice_key(ctx, key) for key in dict.fromkeys(keys)]
    if not wanted:
        raise InputError("choice", "tick at least one box; nothing was recorded")
    doi = double_opt_in_required(ctx)
    explanation = _explanation(ctx, contact_id)
    with unit_of_work(ctx.engine) as session:
        contact = _locked(session, contact_id)
        if contact is None:
            return Outcome()
        choices = {c.key: c for c in _choices(ctx, explanation, *_facts(session, contact))}
        rows = []
        for purpose, channel in wanted:
            choice = choices.get(f"{purpose}:{channel.value}")
            if choice is None or not choice.can_grant:
                continue
            rows.append(
                add_consent_event(
                    session,
                    contact,
                    purpose,
                    channel,
                    ConsentAction.GIVEN,
                    act.evidence(double_opt_in=doi),
                    ORIGIN,
                    act.at,
                )
            )
        if rows:
            mark_changed(session, ctx, contact, act.at)
        return Outcome(consent_events=tuple(rows))


def withdraw(ctx: AppContext, contact_id: str, keys: Sequence[str] | None, act: Act) -> Outcome:
    """Stop these purposes × channels: a withdrawal of each consent, an objection to each sent on soft
    opt-in. ``None``: withdraw every consent (soft opt-in is what :func:`object_to_all` stops). Nothing
    for one already stopped."""
    wanted = None if keys is None else {_key(*parse_choice_key(ctx, key)) for key in keys}
    explanation = _explanation(ctx, contact_id)
    with unit_of_work(ctx.engine) as session:
        contact = _locked(session, contact_id)
        if contact is None:
            return Outcome()
        rows: list[ConsentEventRow] = []
        objections = 0
        for choice in _choices(ctx, explanation, *_facts(session, contact)):
            if (wanted is not None and choice.key not in wanted) or not choice.can_stop:
                continue
            by_consent = choice.state in (ConsentAction.GIVEN.value, ConsentAction.CONFIRMED.value)
            if by_consent:
                event = add_consent_event(
                    session,
                    contact,
                    choice.purpose,
                    choice.channel,
                    ConsentAction.WITHDRAWN,
                    act.evidence(),
                    ORIGIN,
                    act.at,
                )
                rows.append(event)
            soft = choice.decision is not None and choice.decision.basis is Basis.EXISTING_CUSTOMER
            if wanted is not None and choice.allowed and soft and not choice.objected:
                add_objection(
                    session,
                    contact,
                    ORIGIN,
                    act.at,
                    act.at,
                    choice.purpose,
                    choice.channel,
                    _REASON,
                    ip=act.ip,
                    user_agent=act.user_agent,
                )
                objections += 1
        if rows or objections:
            mark_changed(session, ctx, contact, act.at)
        return Outcome(consent_events=tuple(rows), objections=objections)


_REASON = "privacy page"


def object_to_all(ctx: AppContext, contact_id: str, act: Act) -> Outcome:
    """An objection to all direct marketing (soft opt-in included); nothing if one is already held."""
    with unit_of_work(ctx.engine) as session:
        contact = _locked(session, contact_id)
        if contact is None or (None, None) in _objections(session, contact_id):
            return Outcome()
        add_objection(
            session,
            contact,
            ORIGIN,
            act.at,
            act.at,
            None,
            None,
            _REASON,
            ip=act.ip,
            user_agent=act.user_agent,
        )
        mark_changed(session, ctx, contact, act.at)
    return Outcome(objections=1)


def export(ctx: AppContext, contact_id: str) -> dict[str, Any] | None:
    """The ``subject export`` document of the contact."""
    email = contact_email(ctx, contact_id)
    return export_subject(ctx, email) if email is not None else None


def erase(ctx: AppContext, contact_id: str) -> bool:
    """The normal erasure path, asked for by the person; ``False`` if already erased."""
    email = contact_email(ctx, contact_id)
    if email is None:
        return False
    erase_subject(ctx, email, ORIGIN)
    return True


def _explanation(ctx: AppContext, contact_id: str) -> Explanation:
    email = contact_email(ctx, contact_id)
    if email is None:
        raise InputError("link", "this contact no longer exists")
    return explain_contact(ctx, email)


def _facts(
    session: Session, contact: ContactRow
) -> tuple[dict[tuple[str, str], str], set[tuple[str | None, str | None]], bool]:
    return _consent_states(session, contact.id), _objections(session, contact.id), bool(contact.phone)


def _locked(session: Session, contact_id: str) -> ContactRow | None:
    """The contact, its row locked for this transaction (PostgreSQL row lock; SQLite's write lock)."""
    result = session.connection().execute(_LOCK, {"id": contact_id})
    if not getattr(result, "rowcount", 0):
        return None
    return session.get(ContactRow, contact_id)


_LOCK = text("UPDATE contacts SET updated_at = updated_at WHERE id = :id")
