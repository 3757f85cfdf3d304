"""Gather a run's inputs from the store: the contacts to look at, their facts, erasures, the mirror."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlmodel import Session, col

from connector.core.model import ContactFacts
from connector.core.plan import Erasure
from connector.core.remote import MemberStatus, RemoteMember, merge_fields_of, normalise_email
from connector.errors import NotFoundError
from connector.store.facts import load_facts
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.store.tables import ContactRow, ErasureRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RunInputs:
    contacts: Sequence[ContactRow]
    facts: dict[str, ContactFacts]
    mirror: dict[str, RemoteMember]
    managed: frozenset[str]
    erasures: tuple[Erasure, ...]
    watermark: datetime
    """The moment the contacts were selected at; the next run looks at changes from here on."""


def load_inputs(
    session: Session, audience: str, key: bytes, now: datetime, *, full: bool, email: str | None
) -> RunInputs:
    contacts = load_changed_contacts(session, audience, now, full=full, email=email)
    mirror_rows = session.execute(select(MirrorMemberRow).where(col(MirrorMemberRow.audience) == audience))
    rows = list(mirror_rows.scalars())
    return RunInputs(
        contacts=contacts,
        facts=load_facts(session, contacts, key),
        mirror={r.subscriber_hash: remote_member(r) for r in rows},
        managed=frozenset(r.subscriber_hash for r in rows if r.managed),
        erasures=() if email is not None else load_pending_erasures(session),
        watermark=now,
    )


def load_changed_contacts(
    session: Session, audience: str, now: datetime, *, full: bool, email: str | None
) -> list[ContactRow]:
    """One contact by address; all with ``full``; else changed since the watermark or due for review."""
    query = select(ContactRow).where(col(ContactRow.email).is_not(None))
    if email is not None:
        query = query.where(col(ContactRow.email) == normalise_email(email))
    elif not full:
        state = session.get(AudienceStateRow, audience)
        since = state.last_sync_at if state is not None else None
        if since is not None:
            due = col(ContactRow.next_review_at) <= now
            query = query.where(or_(col(ContactRow.changed_at) >= since, due))
    found = list(session.execute(query.order_by(col(ContactRow.id))).scalars())
    if email is not None and not found:
        raise NotFoundError("--contact", "no contact with that e-mail address")
    return found


def load_pending_erasures(session: Session) -> tuple[Erasure, ...]:
    query = select(ErasureRow).where(
        col(ErasureRow.mailchimp_done_at).is_(None), col(ErasureRow.mailchimp_subscriber_hash).is_not(None)
    )
    rows = session.execute(query).scalars()
    return tuple(Erasure(r.mailchimp_subscriber_hash or "", "delete_permanent") for r in rows)


def remote_member(row: MirrorMemberRow) -> RemoteMember:
    return RemoteMember(
        subscriber_hash=row.subscriber_hash,
        email=row.email,
        status=MemberStatus(row.status),
        merge_fields=merge_fields_of(row.merge_fields),
        tags=frozenset(row.tags),
        last_changed=row.last_changed or EPOCH,
        forgotten=row.forgotten,
    )
