"""Members a complete read of a list no longer shows: permanently deleted in Mailchimp.

Mailchimp answers 404 for such an address and refuses to add it again ("Forgotten Email Not
Subscribed"), so the store records what that means (docs/mailchimp-mapping.md): the marketing consents
of the audience withdrawn, the address suppressed, and the mirror marks the member forgotten so no plan
touches it. Archived members are not in a read either and are left alone: their absence proves nothing.
The mirror is the list's own (never another list's the audience was bound to), and the inbound guard
decides first whether so many absences are believable.
"""

from collections.abc import Sequence, Set

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import SuppressionReason
from connector.core.remote import MemberStatus
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import MirrorMemberRow
from connector.store.tables import ContactRow
from connector.sync.inbound import record_opt_out, record_undeliverable

CHUNK = 500
WHY = "permanently deleted in mailchimp"


def missing_members(ctx: AppContext, list_id: str, seen: Set[str]) -> list[str]:
    """The present mirror members of the list that a complete read (``seen``) did not show."""
    with unit_of_work(ctx.engine) as session:
        return [key for key in _present(session, list_id) if key not in seen]


def record_deletions(
    ctx: AppContext, list_id: str, gone: Sequence[str], purposes: Sequence[str]
) -> list[str]:
    """Record the members ``gone`` from a complete read of the list as deleted; the drift lines for them."""
    drift: list[str] = []
    for start in range(0, len(gone), CHUNK):
        with unit_of_work(ctx.engine) as session:
            drift += _record(session, ctx, list_id, gone[start : start + CHUNK], purposes)
    return drift


def _present(session: Session, list_id: str) -> list[str]:
    query = select(col(MirrorMemberRow.subscriber_hash)).where(
        col(MirrorMemberRow.list_id) == list_id,
        col(MirrorMemberRow.forgotten).is_(False),
        col(MirrorMemberRow.status) != MemberStatus.ARCHIVED.value,
    )
    return list(session.execute(query).scalars())


def _record(
    session: Session, ctx: AppContext, list_id: str, keys: Sequence[str], purposes: Sequence[str]
) -> list[str]:
    now = ctx.now()
    query = select(MirrorMemberRow).where(
        col(MirrorMemberRow.list_id) == list_id, col(MirrorMemberRow.subscriber_hash).in_(keys)
    )
    drift = []
    for row in session.execute(query).scalars():
        contact_id = row.contact_id or _contact_of(session, row.email)  # a contact added since the read
        if row.email:
            record_undeliverable(session, ctx, row.email, contact_id, SuppressionReason.UNSUBSCRIBED, now)
        record_opt_out(session, ctx, contact_id, purposes, now, WHY)
        drift.append(f"{row.subscriber_hash[:8]}: {row.status} → deleted")
        row.forgotten, row.tags, row.confirmed_at = True, [], now
        session.add(row)
    return drift


def _contact_of(session: Session, email: str) -> str | None:
    """The contact holding the member's address, marked with what is recorded for it."""
    if not email:
        return None
    query = select(col(ContactRow.id)).where(col(ContactRow.email) == email)
    found: str | None = session.execute(query).scalars().first()
    return found
