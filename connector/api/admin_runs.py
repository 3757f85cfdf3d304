"""The admin API's view of requested syncs: one run's document (request, sync run, progress by operation
state) and the latest runs. The queue and its worker are :mod:`connector.sync.run_queue` (the console
queues its resyncs there too)."""

from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminRunRow
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.sync.run_queue import RunRequest, RunWorker, left_behind, queue_run, run_queued

__all__ = ["RunRequest", "RunWorker", "left_behind", "queue_run", "recent_runs", "run_document", "run_queued"]


def run_document(ctx: AppContext, run_id: str) -> dict[str, Any] | None:
    """An admin run (or a sync run, by its own id) with progress and report; ``None`` if unknown."""
    with unit_of_work(ctx.engine) as session:
        request = session.get(AdminRunRow, run_id)
        sync_id = request.sync_run_id if request is not None else run_id
        sync = session.get(SyncRunRow, sync_id) if sync_id else None
        if request is None and sync is None:
            return None
        progress = _progress(session, sync.id) if sync is not None else {}
        return {
            "id": run_id,
            "request": _request_document(request) if request is not None else None,
            "sync_run": _sync_document(sync) if sync is not None else None,
            "progress": progress,
        }


def recent_runs(ctx: AppContext, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    with unit_of_work(ctx.engine) as session:
        requests = session.execute(
            select(AdminRunRow).order_by(col(AdminRunRow.requested_at).desc()).limit(limit)
        ).scalars()
        syncs = session.execute(
            select(SyncRunRow).order_by(col(SyncRunRow.started_at).desc()).limit(limit)
        ).scalars()
        return {
            "requests": [_request_document(r) for r in requests],
            "sync_runs": [_sync_document(s) for s in syncs],
        }


def _progress(session: Any, sync_run_id: str) -> dict[str, int]:
    query = (
        select(col(PlanOperationRow.state), func.count())
        .where(col(PlanOperationRow.run_id) == sync_run_id)
        .group_by(col(PlanOperationRow.state))
    )
    counts = {state: int(count) for state, count in session.execute(query)}
    return {"total": sum(counts.values()), **counts}


def _request_document(row: AdminRunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "audience": row.audience,
        "full": row.full,
        "allow_destructive": row.allow_destructive,
        "actor": row.actor,
        "status": row.status,
        "requested_at": row.requested_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "sync_run_id": row.sync_run_id,
        "error": row.error,
    }


def _sync_document(row: SyncRunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "audience": row.audience,
        "kind": row.kind,
        "status": row.status,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "counts": row.counts,
        "calls": row.calls,
        "report": row.report,
    }
