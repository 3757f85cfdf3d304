"""The contacts a notice targets, loaded set-based for the planner (``core.notices.plan_notice``).

A notice to the holders of an item reads, whatever their number, one query per need: the holders'
contacts with their relationships for the item (one join driven by the item's index: the notice
concerns those relationships only, ``core.notices.targeted_relationships``), their members in the
audience's list and the suppressions of their addresses (each the whole list or table when it is not
much larger than the holders, else filtered by the holders), and their earlier Transactional
rejections (filtered by the sub-select of the item's holders). References and addresses of a file
are resolved to contact ids first and read 500 a query, all the relationships of each contact with
them.

Only what P4 reads is loaded: erasure, relationships, suppressions, the member's status and the
reject list. Consent events and objections are not: a withdrawal or an objection never stops a notice
(``decide_transactional`` does not look at them), so reading them would only cost time.

Rows are read as plain tuples of what the driver gives (:mod:`connector.store.plain_values`): no ORM
and no conversion per value by the column types; a date-time is parsed once per distinct value.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlmodel import Session, col

from connector.core.identity import address_hash, address_hasher
from connector.core.model import ContactFacts, Relationship, RelationshipKind, Suppression, SuppressionReason
from connector.core.notice_spec import NoticeChannel, NoticeSpec
from connector.core.notices import MemberState, NoticeCandidate
from connector.core.remote import MemberStatus, normalise_email
from connector.services.context import AppContext
from connector.store.notice_tables import NoticeDeliveryRow
from connector.store.plain_values import plain, utc_moment, utc_moment_or_none
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.store.tables import ContactRow, RelationshipRow, SuppressionRow

_CHUNK = 500
_WHOLE_TABLE_FACTOR = 4
"""Read all suppressions at once when there are at most this many times as many as holders."""
REJECT_LISTED = frozenset({"hard-bounce", "spam", "unsub", "custom"})
"""Reject reasons Transactional keeps an address on its reject list for: sending again is refused."""


@dataclass(frozen=True, slots=True)
class _Contact:
    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    processing_restricted: bool


def load_candidates(
    session: Session, ctx: AppContext, spec: NoticeSpec
) -> tuple[list[NoticeCandidate], frozenset[str]]:
    """The contacts the target names, with what P4 reads of them, their member in the audience's list
    and whether Transactional rejected their address (or number) before; and the target's addresses
    of erased persons."""
    target = spec.target
    emails = sorted({normalise_email(e) for e in target.emails})
    holders: Select[Any] | list[str]
    if target.item is not None and not target.references and not emails:
        holders = select(col(RelationshipRow.contact_id)).where(col(RelationshipRow.item) == target.item)
        contacts, relationships = _holders_of_item(session, target.item)
        holder_ids: set[str] | None = {c.id for c in contacts}
    else:
        holders = sorted(_targeted_ids(session, target.item, target.references, emails))
        contacts = _contacts(session, holders)
        relationships = _relationships(session, holders)
        holder_ids = None
    hashed = address_hasher(ctx.suppression_key)
    hashes = {c.id: hashed(c.email) for c in contacts if c.email}
    suppressions = _suppressions(session, set(hashes.values()))
    members = members_by_contact(session, spec.audience, holders, holder_ids)
    rejected = rejected_by_contact(session, holders, NoticeChannel.EMAIL)
    sms = NoticeChannel.SMS in spec.channels
    sms_rejected = rejected_by_contact(session, holders, NoticeChannel.SMS) if sms else {}
    no_relationships: tuple[Relationship, ...] = ()
    candidates = [
        NoticeCandidate(
            ContactFacts(
                c.id,
                c.email is not None,
                c.phone is not None,
                False,
                c.processing_restricted,
                (),
                relationships.get(c.id, no_relationships),
                (),
                suppressions.get(hashes[c.id], ()) if suppressions and c.email else (),
            ),
            c.email,
            c.first_name,
            c.last_name,
            members.get(c.id),
            rejected.get(c.id),
            c.phone,
            sms_rejected.get(c.id),
        )
        for c in contacts
    ]
    known = {normalise_email(c.email) for c in contacts if c.email}
    erased = _erased(session, ctx, [e for e in emails if e not in known])
    return candidates, erased


def _targeted_ids(
    session: Session, item: str | None, references: Sequence[str], emails: Sequence[str]
) -> set[str]:
    ids: set[str] = set()
    owner = col(RelationshipRow.contact_id)
    if item is not None:
        ids.update(
            session.connection().execute(select(owner).where(col(RelationshipRow.item) == item)).scalars()
        )
    for chunk in _chunks(list(references)):
        ids.update(
            session.connection()
            .execute(select(owner).where(col(RelationshipRow.reference).in_(chunk)))
            .scalars()
        )
    for chunk in _chunks(list(emails)):
        query = select(col(ContactRow.id)).where(col(ContactRow.email).in_(chunk))
        ids.update(session.connection().execute(query).scalars())
    return ids


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _among(column: Any, holders: "Select[Any] | Sequence[str]") -> Iterator[ColumnElement[bool]]:
    """``column IN (holders)``: one condition with the sub-select, or one per 500 ids."""
    if isinstance(holders, Select):
        yield col(column).in_(holders)
        return
    for chunk in _chunks(holders):
        yield col(column).in_(chunk)


def _contacts(session: Session, holders: "Select[Any] | list[str]") -> list[_Contact]:
    c = ContactRow
    columns = (c.id, c.email, c.phone, c.first_name, c.last_name, c.processing_restricted)
    query = select(*(plain(x) for x in columns))
    found = [
        _Contact(id_, email, phone, first, last, bool(restricted))
        for condition in _among(c.id, holders)
        for id_, email, phone, first, last, restricted in session.connection().execute(query.where(condition))
    ]
    return sorted(found, key=lambda contact: contact.id)


def _holders_of_item(
    session: Session, item: str
) -> tuple[list[_Contact], dict[str, tuple[Relationship, ...]]]:
    """The contacts holding ``item`` and their relationships for it: one query, driven by the item."""
    c, r = ContactRow, RelationshipRow
    columns: tuple[Any, ...] = (c.id, c.email, c.phone, c.first_name, c.last_name, c.processing_restricted)
    columns += (r.id, r.kind, r.started_at, r.reference, r.service_date, r.ended_at)
    query = (
        select(*(plain(x) for x in columns))
        .select_from(r)
        .join(c, col(c.id) == col(r.contact_id))
        .where(col(r.item) == item)
    )
    kinds = {kind.value: kind for kind in RelationshipKind}
    contacts: dict[str, _Contact] = {}
    grouped: dict[str, list[Relationship]] = defaultdict(list)
    for row in session.connection().execute(query).all():
        id_, email, phone, first, last, restricted, rel_id, kind, started, reference, served, ended = row
        if id_ not in contacts:
            contacts[id_] = _Contact(id_, email, phone, first, last, bool(restricted))
        grouped[id_].append(_relationship(rel_id, kinds[kind], started, reference, served, ended, item))
    found = sorted(contacts.values(), key=lambda contact: contact.id)
    return found, {owner: tuple(held) for owner, held in grouped.items()}


def _relationships(
    session: Session, holders: "Select[Any] | list[str]"
) -> dict[str, tuple[Relationship, ...]]:
    """The holders' relationships with what P4 and its wording read (kind, dates, reference, item; not
    categories, order value or source), unpacked by position."""
    r = RelationshipRow
    columns = (r.contact_id, r.id, r.kind, r.started_at, r.reference, r.service_date, r.ended_at, r.item)
    kinds = {kind.value: kind for kind in RelationshipKind}
    grouped: dict[str, list[Relationship]] = defaultdict(list)
    query = select(*(plain(c) for c in columns))
    for condition in _among(r.contact_id, holders):
        for owner, id_, kind, started, reference, served, ended, item in session.connection().execute(
            query.where(condition)
        ):
            grouped[owner].append(_relationship(id_, kinds[kind], started, reference, served, ended, item))
    return {owner: tuple(found) for owner, found in grouped.items()}


def _relationship(
    id_: str,
    kind: RelationshipKind,
    started: str | datetime,
    reference: str | None,
    served: str | datetime | None,
    ended: str | datetime | None,
    item: str | None,
) -> Relationship:
    """A relationship from the plain column values P4 reads (date-times as the driver returns them)."""
    return Relationship(
        id_,
        kind,
        utc_moment(started),
        reference,
        service_date=utc_moment_or_none(served),
        ended_at=utc_moment_or_none(ended),
        item=item,
    )


def _suppressions(session: Session, hashes: set[str]) -> dict[str, tuple[Suppression, ...]]:
    if not hashes:
        return {}
    s = SuppressionRow
    columns = (plain(s.address_hash), plain(s.reason), plain(s.created_at), plain(s.source))
    total = int(session.connection().execute(select(func.count()).select_from(s)).scalar_one())
    if total <= _WHOLE_TABLE_FACTOR * len(hashes):
        rows: Any = session.connection().execute(select(*columns))
    else:
        wanted = sorted(hashes)
        rows = (
            row
            for chunk in _chunks(wanted)
            for row in session.connection().execute(select(*columns).where(col(s.address_hash).in_(chunk)))
        )
    found: dict[str, list[Suppression]] = defaultdict(list)
    for hashed, reason, created_at, source in rows:
        if hashed in hashes:
            found[hashed].append(
                Suppression(hashed, SuppressionReason(reason), utc_moment(created_at), source)
            )
    return {hashed: tuple(entries) for hashed, entries in found.items()}


def members_by_contact(
    session: Session,
    audience: str,
    holders: "Select[Any] | Sequence[str]",
    holder_ids: set[str] | None = None,
) -> dict[str, MemberState]:
    """The holders' members in the list the audience is bound to (or the audience's rows if it is
    unbound). ``holder_ids``, the ids a sub-select ``holders`` names: the whole list is then read at
    once when it is not much larger than they are."""
    state = session.get(AudienceStateRow, audience)
    m = MirrorMemberRow
    if state is not None and state.list_id is not None:
        scope = col(m.list_id) == state.list_id
    else:
        scope = col(m.audience) == audience
    base = select(plain(m.contact_id), plain(m.status), plain(m.last_changed)).where(
        scope, col(m.forgotten).is_(False)
    )
    if holder_ids is not None and _members(session, base) <= _WHOLE_TABLE_FACTOR * len(holder_ids):
        rows: Any = session.connection().execute(base.where(col(m.contact_id).is_not(None)))
    else:
        holder_ids = None
        rows = (
            row
            for condition in _among(m.contact_id, holders)
            for row in session.connection().execute(base.where(condition))
        )
    statuses = {status.value: status for status in MemberStatus}
    found: dict[str, MemberState] = {}
    for contact_id, status, changed in rows:
        if contact_id is not None and (holder_ids is None or contact_id in holder_ids):
            found[contact_id] = MemberState(statuses[status], utc_moment_or_none(changed))
    return found


def _members(session: Session, members: "Select[Any]") -> int:
    counted = select(func.count()).select_from(members.subquery())
    return int(session.connection().execute(counted).scalar_one())


def rejected_by_contact(
    session: Session, holders: "Select[Any] | list[str]", channel: NoticeChannel
) -> dict[str, str]:
    """Contacts whose address (number, for SMS) Transactional rejected for a reason it keeps on its
    reject list."""
    d = NoticeDeliveryRow
    base = select(plain(d.contact_id), plain(d.reject_reason)).where(
        col(d.reject_reason).in_(sorted(REJECT_LISTED)), col(d.channel) == channel.value
    )
    found: dict[str, str] = {}
    for condition in _among(d.contact_id, holders):
        for contact_id, reason in session.connection().execute(base.where(condition)):
            found[contact_id] = reason
    return found


def _erased(session: Session, ctx: AppContext, emails: Sequence[str]) -> frozenset[str]:
    if not emails:
        return frozenset()
    hashes = {address_hash(e, ctx.suppression_key): e for e in emails}
    found: set[str] = set()
    for chunk in _chunks(sorted(hashes)):
        query = select(col(SuppressionRow.address_hash)).where(
            col(SuppressionRow.address_hash).in_(chunk), col(SuppressionRow.reason) == "erased"
        )
        found.update(hashes[h] for h in session.connection().execute(query).scalars())
    return frozenset(found)
