"""Housekeeping deletes what retention allows, keeps the rest, and skips tables not migrated yet."""

import uuid
from datetime import timedelta
from pathlib import Path

from connector.daemon.housekeeping import keep_house
from connector.services.context import AppContext
from connector.settings import ScheduleSettings
from connector.store.engine import make_engine, unit_of_work
from connector.store.http_tables import WebhookInboxRow
from connector.store.migrate import upgrade
from connector.store.sync_tables import PlanOperationRow, SyncRunRow

RETENTION = ScheduleSettings(inbox_retention_days=30, run_retention_days=30)


def _run(ctx: AppContext, age_days: int, status: str) -> str:
    started = ctx.now() - timedelta(days=age_days)
    run = SyncRunRow(
        id=str(uuid.uuid4()),
        audience="main",
        kind="sync",
        status=status,
        started_at=started,
        finished_at=None if status == "applying" else started,
    )
    with unit_of_work(ctx.engine) as session:
        session.add(run)
        session.flush()
        session.add(PlanOperationRow(run_id=run.id, seq=0, kind="upsert", subscriber_hash="0" * 32))
    return run.id


def _event(ctx: AppContext, age_days: int, processed: bool) -> None:
    with unit_of_work(ctx.engine) as session:
        session.add(
            WebhookInboxRow(
                dedup_key=str(uuid.uuid4()),
                type="unsubscribe",
                received_at=ctx.now() - timedelta(days=age_days),
                processed=processed,
                body="",
            )
        )


def test_old_finished_runs_and_processed_events_go_the_rest_stays(ctx: AppContext) -> None:
    old, recent, unfinished = _run(ctx, 40, "done"), _run(ctx, 5, "done"), _run(ctx, 40, "applying")
    _event(ctx, 40, processed=True)
    _event(ctx, 40, processed=False)
    _event(ctx, 5, processed=True)
    removed = keep_house(ctx.engine, RETENTION, ctx.now())
    assert removed == {"webhook_inbox": 1, "sync_runs": 1}
    with unit_of_work(ctx.engine) as session:
        assert session.get(SyncRunRow, old) is None
        assert session.get(PlanOperationRow, (old, 0)) is None
        assert session.get(SyncRunRow, recent) is not None
        assert session.get(SyncRunRow, unfinished) is not None


def test_tables_a_deployment_does_not_have_yet_are_skipped(tmp_path: Path, ctx: AppContext) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        assert keep_house(engine, RETENTION, ctx.now()) == {"sync_runs": 0}
    finally:
        engine.dispose()
