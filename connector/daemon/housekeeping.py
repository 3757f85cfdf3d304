"""Retention: processed webhook events and finished runs (with their operations) past their age."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, inspect, select
from sqlmodel import col

from connector.settings import ScheduleSettings
from connector.store.engine import unit_of_work
from connector.store.http_tables import WebhookInboxRow
from connector.store.sync_tables import PlanOperationRow, SyncRunRow

UNFINISHED = ("applying",)


def keep_house(engine: Engine, schedule: ScheduleSettings, now: datetime) -> dict[str, int]:
    """Delete what retention allows; tables a deployment does not have yet are skipped."""
    present = set(inspect(engine).get_table_names())
    removed: dict[str, int] = {}
    if WebhookInboxRow.__tablename__ in present:
        removed["webhook_inbox"] = _old_inbox(engine, now - timedelta(days=schedule.inbox_retention_days))
    if {SyncRunRow.__tablename__, PlanOperationRow.__tablename__} <= present:
        removed["sync_runs"] = _old_runs(engine, now - timedelta(days=schedule.run_retention_days))
    return removed


def _old_inbox(engine: Engine, before: datetime) -> int:
    query = delete(WebhookInboxRow).where(
        col(WebhookInboxRow.processed).is_(True), col(WebhookInboxRow.received_at) < before
    )
    with unit_of_work(engine) as session:
        return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def _old_runs(engine: Engine, before: datetime) -> int:
    finished = select(col(SyncRunRow.id)).where(
        col(SyncRunRow.finished_at).is_not(None),
        col(SyncRunRow.finished_at) < before,
        col(SyncRunRow.status).not_in(UNFINISHED),
    )
    with unit_of_work(engine) as session:
        session.execute(delete(PlanOperationRow).where(col(PlanOperationRow.run_id).in_(finished)))
        return int(session.execute(delete(SyncRunRow).where(col(SyncRunRow.id).in_(finished))).rowcount)  # type: ignore[attr-defined]
