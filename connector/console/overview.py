"""The overview of every audience, from aggregate SQL only: counts grouped in the database, a handful of
recent runs, and the campaign guard's last check. No member or contact row is loaded.

Members by status and by segment are the counts the last sync took when it finished (one grouped scan of
the mirror then, :mod:`connector.store.mirror_counts`), so the page does not scan a large mirror on every
view; an audience no sync has counted yet is counted on the spot.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, or_, select
from sqlmodel import col

from connector.services.context import AppContext
from connector.store.console_tables import CampaignCheckRow
from connector.store.engine import unit_of_work
from connector.store.http_tables import WebhookInboxRow
from connector.store.mirror_counts import mirror_counts
from connector.store.sync_tables import AudienceStateRow, SyncRunRow
from connector.store.tables import ContactRow
from connector.sync.run import mapping_for

CHART_RUNS = 30


@dataclass
class AudienceOverview:
    name: str
    list_id: str | None
    members: int = 0
    marketing: dict[str, int] = field(default_factory=dict)
    """Subscribed members per marketing purpose."""
    transactional_only: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    last_sync: SyncRunRow | None = None
    last_reconcile: SyncRunRow | None = None
    drift: int = 0
    waiting: int = 0
    inbox: dict[str, Any] = field(default_factory=dict)
    next_runs: dict[str, datetime | None] = field(default_factory=dict)
    attention: list[str] = field(default_factory=list)
    campaigns: CampaignCheckRow | None = None
    chart: list[tuple[datetime, dict[str, int]]] = field(default_factory=list)
    counted_at: datetime | None = None
    """When the member counts were taken: the last sync's end (its counts), or ``None`` for counted now."""


def overview(ctx: AppContext) -> list[AudienceOverview]:
    now = ctx.now()
    inbox = _inbox(ctx, now)
    found = []
    for audience in ctx.settings.audiences:
        mapping = mapping_for(ctx.settings, audience)
        with unit_of_work(ctx.engine) as session:
            state = session.get(AudienceStateRow, audience.name)
            list_id = (state.list_id if state else None) or audience.list_id
            item = AudienceOverview(audience.name, list_id, inbox=inbox)
            runs = col(SyncRunRow.audience) == audience.name
            latest = select(SyncRunRow).where(runs).order_by(col(SyncRunRow.started_at).desc())
            done = latest.where(col(SyncRunRow.kind) == "sync", col(SyncRunRow.status) == "done")
            counted = session.execute(done.limit(1)).scalar()
            by_status, by_tag = _counted(counted)
            if by_status is None:  # no sync has counted its members yet: count them now
                counts = mirror_counts(session, list_id)
                by_status, by_tag = counts.by_status, counts.subscribed_by_tag
            elif counted is not None:
                item.counted_at = counted.finished_at
            item.by_status = by_status
            item.members = sum(by_status.values())
            item.marketing = {p: by_tag.get(mapping.purpose_tag(p), 0) for p in mapping.purposes}
            item.transactional_only = by_status.get("transactional", 0)
            item.last_sync = session.execute(latest.where(col(SyncRunRow.kind) == "sync").limit(1)).scalar()
            item.last_reconcile = session.execute(
                latest.where(col(SyncRunRow.kind) == "reconcile").limit(1)
            ).scalar()
            if item.last_reconcile is not None:
                item.drift = int((item.last_reconcile.report or {}).get("drift", 0) or 0)
            since = state.last_sync_at if state else None
            waiting = select(func.count()).select_from(ContactRow)
            if since is not None:
                waiting = waiting.where(
                    or_(col(ContactRow.changed_at) >= since, col(ContactRow.next_review_at) <= now)
                )
            item.waiting = int(session.execute(waiting).scalar_one())
            failed = session.execute(
                select(func.count()).where(runs, col(SyncRunRow.status).in_(("failed", "refused")))
            ).scalar_one()
            item.campaigns = session.get(CampaignCheckRow, audience.name)
            for run in session.execute(done.limit(CHART_RUNS)).scalars():
                members = (run.report or {}).get("members") or {}
                tags = members.get("subscribed_by_tag") or {}
                point = {p: int(tags.get(mapping.purpose_tag(p), 0)) for p in mapping.purposes}
                item.chart.append((run.finished_at or run.started_at, point))
            item.chart.reverse()
            hold = state.inbound_hold if state else None
        item.next_runs = _next_runs(ctx, since, now)
        if failed:
            item.attention.append(f"failed or refused runs: {failed}")
        if hold:
            item.attention.append(f"reconcile held back: {hold.get('message', '')}")
        if item.campaigns is not None and item.campaigns.flagged:
            item.attention.append(f"flagged campaigns: {item.campaigns.flagged}")
        if inbox.get("failed"):
            item.attention.append(f"webhook events not applied: {inbox['failed']}")
        found.append(item)
    return found


def _counted(run: SyncRunRow | None) -> tuple[dict[str, int] | None, dict[str, int]]:
    """The member counts the sync run took when it finished (grouped in the database then)."""
    members = ((run.report or {}).get("members") if run is not None else None) or {}
    by_status = members.get("by_status")
    if not isinstance(by_status, dict):
        return None, {}
    tags = members.get("subscribed_by_tag") or {}
    return {str(k): int(v) for k, v in by_status.items()}, {str(k): int(v) for k, v in tags.items()}


def _inbox(ctx: AppContext, now: datetime) -> dict[str, Any]:
    day = now - timedelta(days=1)
    with unit_of_work(ctx.engine) as session:
        query = (
            select(col(WebhookInboxRow.processed), func.count(), func.min(col(WebhookInboxRow.received_at)))
            .where(col(WebhookInboxRow.received_at) >= day)
            .group_by(col(WebhookInboxRow.processed))
        )
        received = applied = 0
        oldest_waiting: datetime | None = None
        for processed, count, oldest in session.execute(query):
            received += count
            if processed:
                applied += count
            else:
                oldest_waiting = oldest
    lag = (now - oldest_waiting).total_seconds() if oldest_waiting is not None else 0.0
    return {"received": received, "applied": applied, "failed": received - applied, "lag_seconds": round(lag)}


def _next_runs(ctx: AppContext, last_sync: datetime | None, now: datetime) -> dict[str, datetime | None]:
    schedule = ctx.settings.schedule
    sync = (last_sync + timedelta(seconds=schedule.sync_interval_seconds)) if last_sync else now
    full = CronTrigger.from_crontab(schedule.full_reconcile_cron, timezone="UTC").get_next_fire_time(
        None, now
    )
    return {"sync": max(sync, now), "full_reconcile": full}
