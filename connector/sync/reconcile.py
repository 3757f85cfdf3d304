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

from connector.core.inbound_guard import inbound_limit, judge_inbound
from connector.core.model import SuppressionReason
from connector.core.remote import MemberStatus, RemoteMember
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.contacts import mark_changed
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow, SyncRunRow
from connector.store.tables import ContactRow
from connector.sync.audience import ensure_audience
from connector.sync.deletions import missing_members, record_deletions
from connector.sync.inbound import record_opt_out, record_undeliverable
from connector.sync.load import present_members
from connector.sync.lock import audience_lock
from connector.sync.repermission_answers import confirm_member
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
    held: str | None = None
    """Why the inbound guard held back what Mailchimp reported, when it did."""
    held_members: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "read": self.read,
            "opted_out": self.opted_out,
            "cleaned": self.cleaned,
            "deleted": self.deleted,
            "drift": self.drift[:50],
            "drift_count": len(self.drift),
            "held": self.held,
            "held_members": self.held_members,
        }


def reconcile_audience(
    ctx: AppContext,
    gateway: MailchimpGateway,
    name: str,
    *,
    full: bool = False,
    accept_inbound: bool = False,
) -> ReconcileReport:
    """Read the list back. Members without news for the store refresh the mirror page by page; those
    Mailchimp reports opted out, cleaned or deleted are counted first and recorded only if the inbound
    guard allows it (or ``accept_inbound``); held back, their mirror rows and the watermark stay put, so
    the next reconcile finds them again."""
    audience = ctx.settings.audience(name)
    mapping = mapping_for(ctx.settings, audience)
    report = ReconcileReport(name)
    started = ctx.now()
    with audience_lock(ctx, name):
        target = ensure_audience(ctx, gateway, audience, mapping)
        with unit_of_work(ctx.engine) as session:
            state = session.get(AudienceStateRow, name)
            since = None if full or state is None else state.last_reconcile_at
            size = present_members(session, target.list_id)
        settings = ctx.settings.reconcile
        limit = inbound_limit(size, max_fraction=settings.max_inbound_fraction, floor=settings.inbound_floor)
        merge_tags = frozenset(tag for tag, _ in mapping.merge_fields)
        work = _Reconcile(ctx, target.list_id, name, audience.purposes, mapping.owns, merge_tags, report)
        news = _News(limit=None if accept_inbound else limit)
        newest = since
        seen: set[str] = set()
        records = (
            record.to_remote() for record in gateway.iter_members(target.list_id, since_last_changed=since)
        )
        for page in batched(records, PAGE):
            work.page(page, news)
            report.read += len(page)
            seen.update(m.subscriber_hash for m in page)
            newest = max([m.last_changed for m in page] + ([newest] if newest else []))
        if since is None:  # archived members are left out of a read unless asked for
            seen.update(_refresh_archived(work, gateway, target.list_id, news))
        gone = missing_members(ctx, target.list_id, seen) if since is None else []
        verdict = judge_inbound(
            news.count + len(gone),
            max(size, report.read) if since is None else size,
            complete_read=report.read if since is None else None,
            max_fraction=settings.max_inbound_fraction,
            floor=settings.inbound_floor,
            accepted=accept_inbound,
        )
        if verdict.held:
            report.held, report.held_members = verdict.message(), verdict.members
        else:
            work.record(news.members)
            deleted = record_deletions(ctx, target.list_id, gone, audience.purposes)
            report.deleted, report.drift = len(deleted), report.drift + deleted
        _record(
            ctx, name, target.list_id, report, started, None if verdict.held else newest, full=since is None
        )
    return report


def _refresh_archived(work: "_Reconcile", gateway: MailchimpGateway, list_id: str, news: "_News") -> set[str]:
    """Read the archived members too (a complete read only): a tag a marketer gave an archived member is
    still there when it is unarchived, and a member archived by hand is not one deleted for good. Archived
    is never news for the store (their status says nothing of what the person wants)."""
    seen: set[str] = set()
    records = gateway.iter_members(list_id, status=MemberStatus.ARCHIVED)
    for page in batched((record.to_remote() for record in records), PAGE):
        work.page(page, news)
        seen.update(m.subscriber_hash for m in page)
    return seen


@dataclass(slots=True)
class _News:
    """Members Mailchimp reports opted out or cleaned, kept until the guard decides (only up to ``limit``:
    beyond it the reconcile is held whatever else it finds, so they are just counted)."""

    limit: int | None
    count: int = 0
    members: list[RemoteMember] = field(default_factory=list)

    def add(self, remote: RemoteMember) -> None:
        self.count += 1
        if self.limit is not None and self.count > self.limit:
            self.members.clear()
        else:
            self.members.append(remote)


@dataclass(frozen=True, slots=True)
class _Reconcile:
    ctx: AppContext
    list_id: str
    audience: str
    purposes: tuple[str, ...]
    owns: Callable[[str], bool]
    merge_tags: frozenset[str]
    """The merge fields the audience maps (the plan compares only those)."""
    report: ReconcileReport

    def page(self, page: Sequence[RemoteMember], news: _News) -> None:
        """Refresh the mirror for the page's members without news; count (and keep) the others. With no
        limit (``--accept-inbound``) news is recorded at once, page by page."""
        with unit_of_work(self.ctx.engine) as session:
            known = _Known.load(session, self.list_id, page)
            for remote in page:
                if news.limit is not None and known.has_news(remote):
                    news.add(remote)
                else:
                    counted = news.limit is None and known.has_news(remote)
                    news.count += counted
                    self._member(session, known, remote)

    def record(self, members: Sequence[RemoteMember]) -> None:
        """Record the news the guard let through, and refresh those members' mirror rows."""
        for start in range(0, len(members), PAGE):
            chunk = members[start : start + PAGE]
            with unit_of_work(self.ctx.engine) as session:
                known = _Known.load(session, self.list_id, chunk)
                for remote in chunk:
                    self._member(session, known, remote)

    def _member(self, session: Session, known: "_Known", remote: RemoteMember) -> None:
        _reconcile_member(
            session,
            self.ctx,
            known,
            self.list_id,
            self.audience,
            remote,
            self.purposes,
            self.owns,
            self.merge_tags,
            self.report,
        )


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
    def load(cls, session: Session, list_id: str, page: Sequence[RemoteMember]) -> "_Known":
        hashes = [m.subscriber_hash for m in page]
        emails = [m.email for m in page if m.email]
        rows = session.execute(
            select(MirrorMemberRow).where(
                col(MirrorMemberRow.list_id) == list_id, col(MirrorMemberRow.subscriber_hash).in_(hashes)
            )
        ).scalars()
        found = session.execute(
            select(col(ContactRow.id), col(ContactRow.email)).where(col(ContactRow.email).in_(emails))
        )
        return cls({r.subscriber_hash: r for r in rows}, {email: cid for cid, email in found if email})

    def contact_of(self, remote: RemoteMember) -> str | None:
        row = self.mirror.get(remote.subscriber_hash)
        return row.contact_id if row is not None and row.contact_id else self.contacts.get(remote.email)

    def has_news(self, remote: RemoteMember) -> bool:
        """Whether the member's state would make the store record an opt-out or a suppression."""
        row = self.mirror.get(remote.subscriber_hash)
        before = row.status if row is not None else None
        opted_out = _first_seen_opt_out(before, remote) and self.contact_of(remote) is not None
        return opted_out or _first_seen_cleaned(before, remote)


def _first_seen_opt_out(before: str | None, remote: RemoteMember) -> bool:
    """An opt-out seen for the first time (a member we had as reachable, or never saw) is never lost."""
    return (before is None or before in REACHABLE) and remote.status is MemberStatus.UNSUBSCRIBED


def _first_seen_cleaned(before: str | None, remote: RemoteMember) -> bool:
    return before != MemberStatus.CLEANED.value and remote.status is MemberStatus.CLEANED


def _reconcile_member(
    session: Session,
    ctx: AppContext,
    known: _Known,
    list_id: str,
    audience: str,
    remote: RemoteMember,
    purposes: tuple[str, ...],
    owns: Callable[[str], bool],
    merge_tags: frozenset[str],
    report: ReconcileReport,
) -> None:
    now = ctx.now()
    row = known.mirror.get(remote.subscriber_hash)
    contact_id = known.contact_of(remote)
    before = row.status if row is not None else None
    changed = True  # a member the mirror did not know: the contact's plan starts from it now
    if row is not None:
        ours = {t for t in row.tags if owns(t)} != {t for t in remote.tags if owns(t)}
        fields = _ours(dict(row.merge_fields), merge_tags) != _ours(dict(remote.merge_fields), merge_tags)
        if ours or row.status != remote.status.value:
            report.drift.append(
                f"{remote.subscriber_hash[:8]}: {row.status} → {remote.status.value}"
                + (" (tags)" if ours else "")
            )
        changed = ours or fields or row.status != remote.status.value
    else:
        row = MirrorMemberRow(
            list_id=list_id,
            audience=audience,
            subscriber_hash=remote.subscriber_hash,
            status=remote.status.value,
            confirmed_at=now,
        )
    if _first_seen_opt_out(before, remote) and record_opt_out(
        session, ctx, contact_id, purposes, now, "unsubscribed in mailchimp"
    ):
        report.opted_out += 1
    if before == MemberStatus.PENDING.value and remote.status is MemberStatus.SUBSCRIBED and contact_id:
        at = remote.timestamp_opt or remote.last_changed
        confirm_member(session, contact_id, list_id, at, remote.ip_opt or None, now)  # re-permission
    if _first_seen_cleaned(before, remote):
        record_undeliverable(session, ctx, remote.email, contact_id, SuppressionReason.CLEANED, now)
        report.cleaned += 1
    row.contact_id = contact_id
    row.email, row.status, row.tags = remote.email, remote.status.value, sorted(remote.tags)
    row.interests = dict(remote.interests)
    row.merge_fields, row.last_changed, row.confirmed_at = dict(remote.merge_fields), remote.last_changed, now
    session.add(row)
    contact = session.get(ContactRow, contact_id) if changed and contact_id else None
    if contact is not None:  # what the next plan compares with changed: it must look at the contact
        mark_changed(session, ctx, contact, now)


def _ours(values: dict[str, str], tags: frozenset[str]) -> dict[str, str]:
    return {tag: value for tag, value in values.items() if tag in tags and value}


def _record(
    ctx: AppContext,
    name: str,
    list_id: str,
    report: ReconcileReport,
    started: datetime,
    newest: datetime | None,
    *,
    full: bool,
) -> None:
    """The run, and the audience's watermark and inbound hold: a held reconcile leaves the watermark
    where it was (``newest`` is ``None``); a complete read that is not held clears any hold, an
    incremental one only an incremental hold."""
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, name) or AudienceStateRow(audience=name)
        if report.held is None:
            state.last_reconcile_at = newest
            if state.inbound_hold is not None and (full or not state.inbound_hold.get("full")):
                state.inbound_hold = None
        else:
            state.inbound_hold = {
                "at": ctx.now().isoformat(),
                "full": full,
                "members": report.held_members,
                "message": report.held,
            }
        run = SyncRunRow(
            id=str(uuid.uuid4()),
            audience=name,
            list_id=list_id,
            kind="reconcile",
            status="done" if report.held is None else "held",
            started_at=started,
            finished_at=ctx.now(),
            counts={"read": report.read, "drift": len(report.drift), "held": report.held_members},
            report=report.document(),
        )
        session.add_all([state, run])
