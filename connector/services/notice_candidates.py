"""The contacts a notice targets, loaded set-based for the planner (``core.notices.plan_notice``).

A notice to the holders of an item reads, whatever their number, one query per table: the holders'
contacts, their relationships, their members in the audience's list, their earlier Transactional
rejections (each filtered by the same sub-select of the item's holders), and the suppressions of their
addresses (the whole table when it is not much larger than the holders, else 500 hashes a query).
References and addresses of a file are resolved to contact ids first and read 500 a query.

Only what P4 reads is loaded: erasure, relationships, suppressions, the member's status and the
reject list. Consent events and objections are not: a withdrawal or an objection never stops a notice
(``decide_transactional`` does not look at them), so reading them would only cost time.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlmodel import Session, col

from connector.core.identity import address_hash
from connector.core.model import ContactFacts, Relationship, RelationshipKind, Suppression, SuppressionReason
from connector.core.notice_spec import NoticeChannel, NoticeSpec
from connector.core.notices import MemberState, NoticeCandidate
from connector.core.remote import MemberStatus, normalise_email
from connector.services.context import AppContext
from connector.store.notice_tables import NoticeDeliveryRow
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
    if target.item is not None and not target.references and not emails:
        holders: Select[Any] | list[str] = select(col(RelationshipRow.contact_id)).where(
            col(RelationshipRow.item) == target.item
        )
    else:
        holders = sorted(_targeted_ids(session, target.item, target.references, emails))
    contacts = _contacts(session, holders)
    relationships = _relationships(session, holders)
    hashes = {c.id: address_hash(c.email, ctx.suppression_key) for c in contacts if c.email}
    suppressions = _suppressions(session, set(hashes.values()))
    members = members_by_contact(session, spec.audience, holders)
    rejected = rejected_by_contact(session, holders, NoticeChannel.EMAIL)
    sms = NoticeChannel.SMS in spec.channels
    sms_rejected = rejected_by_contact(session, holders, NoticeChannel.SMS) if sms else {}
    candidates = [
        NoticeCandidate(
            facts=ContactFacts(
                contact_id=c.id,
                has_email=c.email is not None,
                has_phone=c.phone is not None,
                processing_restricted=c.processing_restricted,
                relationships=tuple(relationships.get(c.id, ())),
                suppressions=tuple(suppressions.get(hashes.get(c.id, ""), ())),
            ),
            email=c.email,
            first_name=c.first_name,
            last_name=c.last_name,
            member=members.get(c.id),
            reject_reason=rejected.get(c.id),
            phone=c.phone,
            sms_reject_reason=sms_rejected.get(c.id),
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


def _among(column: Any, holders: "Select[Any] | list[str]") -> Iterator[ColumnElement[bool]]:
    """``column IN (holders)``: one condition with the sub-select, or one per 500 ids."""
    if isinstance(holders, Select):
        yield col(column).in_(holders)
        return
    for chunk in _chunks(holders):
        yield col(column).in_(chunk)


def _contacts(session: Session, holders: "Select[Any] | list[str]") -> list[_Contact]:
    c = ContactRow
    columns = (c.id, c.email, c.phone, c.first_name, c.last_name, c.processing_restricted)
    found = [
        _Contact(*row)
        for condition in _among(c.id, holders)
        for row in session.connection().execute(select(*(col(x) for x in columns)).where(condition))
    ]
    return sorted(found, key=lambda contact: contact.id)


def _relationships(session: Session, holders: "Select[Any] | list[str]") -> dict[str, list[Relationship]]:
    """The holders' relationships with what P4 and its wording read (kind, dates, reference, item; not
    categories, order value or source), unpacked by position."""
    r = RelationshipRow
    columns = (r.contact_id, r.id, r.kind, r.started_at, r.reference, r.service_date, r.ended_at, r.item)
    kinds = {kind.value: kind for kind in RelationshipKind}
    grouped: dict[str, list[Relationship]] = defaultdict(list)
    for condition in _among(r.contact_id, holders):
        query = select(*(col(c) for c in columns)).where(condition)
        for owner, id_, kind, started, reference, served, ended, item in session.connection().execute(query):
            grouped[owner].append(
                Relationship(
                    id_, kinds[kind], started, reference, service_date=served, ended_at=ended, item=item
                )
            )
    return grouped


def _suppressions(session: Session, hashes: set[str]) -> dict[str, list[Suppression]]:
    if not hashes:
        return {}
    s = SuppressionRow
    columns = (col(s.address_hash), col(s.reason), col(s.created_at), col(s.source))
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
            found[hashed].append(Suppression(hashed, SuppressionReason(reason), created_at, source))
    return found


def members_by_contact(
    session: Session, audience: str, holders: "Select[Any] | list[str]"
) -> dict[str, MemberState]:
    """The members of the list the audience is bound to (or the audience's rows if it is unbound)."""
    state = session.get(AudienceStateRow, audience)
    m = MirrorMemberRow
    base = select(col(m.contact_id), col(m.status), col(m.last_changed)).where(col(m.forgotten).is_(False))
    if state is not None and state.list_id is not None:
        base = base.where(col(m.list_id) == state.list_id)
    else:
        base = base.where(col(m.audience) == audience)
    found: dict[str, MemberState] = {}
    for condition in _among(m.contact_id, holders):
        for contact_id, status, changed in session.connection().execute(base.where(condition)):
            if contact_id is not None:
                found[contact_id] = MemberState(MemberStatus(status), changed)
    return found


def rejected_by_contact(
    session: Session, holders: "Select[Any] | list[str]", channel: NoticeChannel
) -> dict[str, str]:
    """Contacts whose address (number, for SMS) Transactional rejected for a reason it keeps on its
    reject list."""
    d = NoticeDeliveryRow
    base = select(col(d.contact_id), col(d.reject_reason)).where(
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
