"""Mailchimp's part of an erasure (P7), audience by audience.

A tombstone (``erasures``) is closed only once every configured audience has recorded its part in
``erasure_audiences``: deleted (or archived), not found, or never a member there.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, delete, select
from sqlmodel import Field, Session, SQLModel, col

from connector.core.plan import Erasure, Plan
from connector.core.remote import RemoteMember
from connector.settings import Settings
from connector.store.sync_tables import MirrorMemberRow, PlanOperationRow
from connector.store.tables import ErasureRow, _at

STRONGEST_FIRST = ("deleted", "archived", "not found", "already deleted", "already archived", "not a member")
KEPT_BY_MAILCHIMP = frozenset({"archived", "already archived"})
"""Outcomes after which Mailchimp still holds the member (archived): its subscriber hash stays ours too."""


class ErasureAudienceRow(SQLModel, table=True):
    """One audience's part of one erasure: when Mailchimp was told, and what it answered."""

    __tablename__ = "erasure_audiences"

    contact_id: str = Field(
        sa_column=Column(
            String(36),
            ForeignKey("erasures.contact_id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    audience: str = Field(sa_column=Column(String(64), primary_key=True, nullable=False))
    done_at: datetime = Field(sa_column=_at())
    outcome: str = Field(max_length=64)


def pending_erasures(session: Session, audience: str, settings: Settings) -> tuple[Erasure, ...]:
    """Open tombstones this audience has not done its part of yet, erased the configured way."""
    done_here = select(col(ErasureAudienceRow.contact_id)).where(col(ErasureAudienceRow.audience) == audience)
    query = select(ErasureRow).where(
        col(ErasureRow.mailchimp_done_at).is_(None),
        col(ErasureRow.mailchimp_subscriber_hash).is_not(None),
        col(ErasureRow.contact_id).not_in(done_here),
    )
    how = settings.policy.mailchimp_erasure
    return tuple(Erasure(r.mailchimp_subscriber_hash or "", how) for r in session.execute(query).scalars())


def record_erasure_done(
    session: Session, settings: Settings, key: str, audience: str, outcome: str, now: datetime
) -> None:
    """This audience's part is done for every open tombstone of ``key``; close those now complete."""
    query = select(ErasureRow).where(
        col(ErasureRow.mailchimp_subscriber_hash) == key, col(ErasureRow.mailchimp_done_at).is_(None)
    )
    every = {a.name for a in settings.audiences}
    for tombstone in session.execute(query).scalars():
        parts = _parts(session, tombstone.contact_id)
        if audience not in parts:
            session.add(
                ErasureAudienceRow(
                    contact_id=tombstone.contact_id, audience=audience, done_at=now, outcome=outcome
                )
            )
            parts[audience] = outcome
        if set(parts) >= every:
            tombstone.mailchimp_done_at = now
            tombstone.mailchimp_outcome = _strongest(parts.values())
            session.add(tombstone)


def record_untouched_erasures(
    session: Session,
    settings: Settings,
    audience: str,
    erasures: Iterable[Erasure],
    plan: Plan,
    mirror: Mapping[str, RemoteMember],
    now: datetime,
) -> None:
    """Erasures the plan needs no call for: the member was never here, or is already gone."""
    touched = {op.subscriber_hash for op in plan.operations}
    for erasure in erasures:
        if erasure.subscriber_hash in touched:
            continue
        have = mirror.get(erasure.subscriber_hash)
        outcome = (
            "not a member" if have is None else "already deleted" if have.forgotten else "already archived"
        )
        record_erasure_done(session, settings, erasure.subscriber_hash, audience, outcome, now)


def _parts(session: Session, contact_id: str) -> dict[str, str]:
    query = select(ErasureAudienceRow).where(col(ErasureAudienceRow.contact_id) == contact_id)
    return {r.audience: r.outcome for r in session.execute(query).scalars()}


def _strongest(outcomes: Iterable[str]) -> str:
    found = set(outcomes)
    return next((o for o in STRONGEST_FIRST if o in found), "done")


def purge_confirmed_erasures(session: Session) -> int:
    """Drop the Mailchimp subscriber hash of every erasure Mailchimp has confirmed everywhere.

    The hash is the MD5 of the address, reversible by anyone holding candidate addresses: it is kept only
    while Mailchimp may still hold the member. Once every audience's part is a deletion (or the person
    was never or no longer there), the mirror rows and the stored operations carrying the hash go, and
    the tombstone keeps only what it says happened. The number of tombstones purged.
    """
    query = select(ErasureRow).where(
        col(ErasureRow.mailchimp_done_at).is_not(None), col(ErasureRow.mailchimp_subscriber_hash).is_not(None)
    )
    purged = 0
    for tombstone in session.execute(query).scalars():
        if KEPT_BY_MAILCHIMP & set(_parts(session, tombstone.contact_id).values()):
            continue
        key = tombstone.mailchimp_subscriber_hash
        mirror = col(MirrorMemberRow.subscriber_hash) == key
        session.execute(delete(MirrorMemberRow).where(mirror, col(MirrorMemberRow.contact_id).is_(None)))
        session.execute(delete(PlanOperationRow).where(col(PlanOperationRow.subscriber_hash) == key))
        tombstone.mailchimp_subscriber_hash = None
        session.add(tombstone)
        purged += 1
    return purged
