"""Read Mailchimp back into the mirror; what people did there becomes store facts; drift is reported.

The watermark is Mailchimp's own ``last_changed`` (the newest one seen), never our clock.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
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
from connector.sync.inbound import record_opt_out, record_undeliverable
from connector.sync.lock import audience_lock
from connector.sync.run import mapping_for

REACHABLE = frozenset(
    {MemberStatus.SUBSCRIBED.value, MemberStatus.TRANSACTIONAL.value, MemberStatus.PENDING.value}
)


@dataclass(slots=True)
class ReconcileReport:
    audience: str
    read: int = 0
    opted_out: int = 0
    cleaned: int = 0
    drift: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "read": self.read,
            "opted_out": self.opted_out,
            "cleaned": self.cleaned,
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
        for record in gateway.iter_members(target.list_id, since_last_changed=since):
            remote = record.to_remote()
            with unit_of_work(ctx.engine) as session:
                _reconcile_member(session, ctx, name, remote, audience.purposes, mapping.owns, report)
            report.read += 1
            newest = remote.last_changed if newest is None else max(newest, remote.last_changed)
        _record(ctx, name, report, started, newest)
    return report


def _reconcile_member(
    session: Session,
    ctx: AppContext,
    audience: str,
    remote: RemoteMember,
    purposes: tuple[str, ...],
    owns: Any,
    report: ReconcileReport,
) -> None:
    now = ctx.now()
    row = session.get(MirrorMemberRow, (audience, remote.subscriber_hash))
    contact_id = row.contact_id if row is not None and row.contact_id else _contact_id(session, remote.email)
    changed = False
    if row is not None:
        ours = {t for t in row.tags if owns(t)} != {t for t in remote.tags if owns(t)}
        if ours or row.status != remote.status.value:
            report.drift.append(
                f"{remote.subscriber_hash[:8]}: {row.status} → {remote.status.value}"
                + (" (tags)" if ours else "")
            )
            changed = True
        if row.status in REACHABLE and remote.status is MemberStatus.UNSUBSCRIBED:
            record_opt_out(session, ctx, contact_id, purposes, now, "unsubscribed in mailchimp")
            report.opted_out += 1
        if row.status != MemberStatus.CLEANED.value and remote.status is MemberStatus.CLEANED:
            record_undeliverable(session, ctx, remote.email, contact_id, SuppressionReason.CLEANED, now)
            report.cleaned += 1
    else:
        row = MirrorMemberRow(
            audience=audience,
            subscriber_hash=remote.subscriber_hash,
            status=remote.status.value,
            confirmed_at=now,
        )
    row.contact_id = contact_id
    row.email, row.status, row.tags = remote.email, remote.status.value, sorted(remote.tags)
    row.merge_fields, row.last_changed, row.confirmed_at = dict(remote.merge_fields), remote.last_changed, now
    session.add(row)
    contact = session.get(ContactRow, contact_id) if changed and contact_id else None
    if contact is not None:
        mark_changed(session, ctx, contact, now)


def _contact_id(session: Session, email: str) -> str | None:
    if not email:
        return None
    return session.execute(select(col(ContactRow.id)).where(col(ContactRow.email) == email)).scalars().first()


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
