"""Read Mailchimp back into the mirror; what people did there becomes store facts; drift is reported.

The watermark is Mailchimp's own ``last_changed`` (the newest one seen), never our clock.
"""

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import SuppressionReason
from connector.core.remote import MemberStatus, RemoteMember
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.contacts import mark_changed
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow, SyncRunRow
from connector.store.tables import ContactRow
from connector.sync.audience import ensure_audience
from connector.sync.deletions import record_deletions
from connector.sync.inbound import record_opt_out, record_undeliverable
from connector.sync.lock import audience_lock
from connector.sync.run import mapping_for

PAGE = 1000
REACHABLE = frozenset(
    {MemberStatus.SUBSCRIBED.value, MemberStatus.TRANSACTIONAL.value, MemberStatus.PENDING.value}
)


@dataclass(slots=True)
class ReconcileReport:
    audience: str
    read: int = 0
    opted_out: int = 0
    cleaned: int = 0
    deleted: int = 0
    drift: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "read": self.read,
            "opted_out": self.opted_out,
            "cleaned": self.cleaned,
            "deleted": self.deleted,
            "drift": self.drift[:50],
            "drift_count": len(self.drift),
        }


def reconcile_audience(
    ctx: AppContext, gateway: MailchimpGateway, name: str, *, full: bool = False
) -> ReconcileReport:
    audience = ctx.settings.audience(name)
    mapping = mapping_for(ctx.settings, audience)
    report = ReconcileReport(name)
    started = ctx.now()
    with audience_lock(ctx, name):
        target = ensure_audience(ctx, gateway, audience, mapping)
        with unit_of_work(ctx.engine) as session:
            state = session.get(AudienceStateRow, name)
            since = None if full or state is None else state.last_reconcile_at
        newest = since
        seen: set[str] = set()
        records = (
            record.to_remote() for record in gateway.iter_members(target.list_id, since_last_changed=since)
        )
        for page in batched(records, PAGE):
            with unit_of_work(ctx.engine) as session:
                known = _Known.load(session, name, page)
                for remote in page:
                    _reconcile_member(
                        session, ctx, known, name, remote, audience.purposes, mapping.owns, report
                    )
            report.read += len(page)
            seen.update(m.subscriber_hash for m in page)
            newest = max([m.last_changed for m in page] + ([newest] if newest else []))
        if since is None:  # a complete read: what it lacks was permanently deleted in Mailchimp
            gone = record_deletions(ctx, name, seen, audience.purposes)
            report.deleted, report.drift = len(gone), report.drift + gone
        _record(ctx, name, report, started, newest)
    return report


def batched(items: Iterable[RemoteMember], size: int) -> Iterator[list[RemoteMember]]:
    """Consecutive lists of up to ``size`` members."""
    iterator = iter(items)
    while page := list(islice(iterator, size)):
        yield page


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store already holds for one page of members: mirror rows and contact ids by address."""

    mirror: dict[str, MirrorMemberRow]
    contacts: dict[str, str]

    @classmethod
    def load(cls, session: Session, audience: str, page: Sequence[RemoteMember]) -> "_Known":
        hashes = [m.subscriber_hash for m in page]
        emails = [m.email for m in page if m.email]
        rows = session.execute(
            select(MirrorMemberRow).where(
                col(MirrorMemberRow.audience) == audience, col(MirrorMemberRow.subscriber_hash).in_(hashes)
            )
        ).scalars()
        found = session.execute(
            select(col(ContactRow.id), col(ContactRow.email)).where(col(ContactRow.email).in_(emails))
        )
        return cls({r.subscriber_hash: r for r in rows}, {email: cid for cid, email in found if email})


def _reconcile_member(
    session: Session,
    ctx: AppContext,
    known: _Known,
    audience: str,
    remote: RemoteMember,
    purposes: tuple[str, ...],
    owns: Callable[[str], bool],
    report: ReconcileReport,
) -> None:
    now = ctx.now()
    row = known.mirror.get(remote.subscriber_hash)
    contact_id = row.contact_id if row is not None and row.contact_id else known.contacts.get(remote.email)
    before = row.status if row is not None else None
    changed = False
    if row is not None:
        ours = {t for t in row.tags if owns(t)} != {t for t in remote.tags if owns(t)}
        if ours or row.status != remote.status.value:
            report.drift.append(
                f"{remote.subscriber_hash[:8]}: {row.status} → {remote.status.value}"
                + (" (tags)" if ours else "")
            )
            changed = True
    else:
        row = MirrorMemberRow(
            audience=audience,
            subscriber_hash=remote.subscriber_hash,
            status=remote.status.value,
            confirmed_at=now,
        )
    # An opt-out seen for the first time (a member we had as reachable, or never saw) is never lost.
    first_seen_opt_out = (
        before is None or before in REACHABLE
    ) and remote.status is MemberStatus.UNSUBSCRIBED
    if first_seen_opt_out and record_opt_out(
        session, ctx, contact_id, purposes, now, "unsubscribed in mailchimp"
    ):
        report.opted_out += 1
    if before != MemberStatus.CLEANED.value and remote.status is MemberStatus.CLEANED:
        record_undeliverable(session, ctx, remote.email, contact_id, SuppressionReason.CLEANED, now)
        report.cleaned += 1
    row.contact_id = contact_id
    row.email, row.status, row.tags = remote.email, remote.status.value, sorted(remote.tags)
    row.merge_fields, row.last_changed, row.confirmed_at = dict(remote.merge_fields), remote.last_changed, now
    session.add(row)
    contact = session.get(ContactRow, contact_id) if changed and contact_id else None
    if contact is not None:
        mark_changed(session, ctx, contact, now)


def _record(
    ctx: AppContext, name: str, report: ReconcileReport, started: datetime, newest: datetime | None
) -> None:
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, name) or AudienceStateRow(audience=name)
        state.last_reconcile_at = newest
        run = SyncRunRow(
            id=str(uuid.uuid4()),
            audience=name,
            kind="reconcile",
            status="done",
            started_at=started,
            finished_at=ctx.now(),
            counts={"read": report.read, "drift": len(report.drift)},
            report=report.document(),
        )
        session.add_all([state, run])
