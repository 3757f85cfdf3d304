"""How far a console resync is: the queued request (``admin_runs``), its live progress, and at the end
the sync run's report. Read in the serve process that runs it from the worker's :class:`SyncProgress`
(planned, sent, confirmed); in another process from the persisted plan (operations by state)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminRunRow
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.sync.progress import SyncProgress

FINISHED = frozenset({"done", "failed", "refused"})


@dataclass(frozen=True, slots=True)
class RunProgress:
    id: str
    audience: str
    actor: str
    status: str
    """``queued``, ``running``, then ``done``, ``failed`` or ``refused``."""
    requested_at: datetime
    facts: list[tuple[str, str]] = field(default_factory=list)
    """What is known so far, as (label key, value) lines: planned, sent, confirmed (or operations)."""
    value: int = 0
    maximum: int = 0
    """For a ``<progress>`` bar: calls sent of the calls estimated (0 while unknown)."""
    sync_run_id: str | None = None
    error: str | None = None
    report: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def state(self) -> dict[str, Any]:
        """What the page's script redraws (``…/state``)."""
        return {
            "status": self.status,
            "finished": self.finished,
            "facts": [[key, value] for key, value in self.facts],
            "value": self.value,
            "max": self.maximum,
        }


def run_progress(ctx: AppContext, run_id: str, watch: SyncProgress | None) -> RunProgress | None:
    """The request ``run_id`` as the progress page shows it; ``None`` if there is no such request."""
    with unit_of_work(ctx.engine) as session:
        request = session.get(AdminRunRow, run_id)
        if request is None:
            return None
        sync = session.get(SyncRunRow, request.sync_run_id) if request.sync_run_id else None
        if sync is None and request.status == "running" and watch is None:
            sync = _current_sync(session, request)
        operations = _operations(session, sync.id) if sync is not None and watch is None else {}
        base: dict[str, Any] = {
            "id": request.id,
            "audience": request.audience,
            "actor": request.actor,
            "status": request.status,
            "requested_at": request.requested_at,
            "sync_run_id": request.sync_run_id,
            "error": request.error,
        }
        if request.status in FINISHED and sync is not None:
            base["report"] = dict(sync.report)
            base["counts"] = dict(sync.counts)
    facts, value, maximum = _facts(watch, operations) if request.status != "queued" else ([], 0, 0)
    return RunProgress(**base, facts=facts, value=value, maximum=maximum)


def _current_sync(session: Any, request: AdminRunRow) -> SyncRunRow | None:
    """The sync run of the request's audience begun since it was asked for (another process runs it)."""
    query = (
        select(SyncRunRow)
        .where(
            col(SyncRunRow.audience) == request.audience,
            col(SyncRunRow.kind) == "sync",
            col(SyncRunRow.started_at) >= request.requested_at,
        )
        .order_by(col(SyncRunRow.started_at).desc())
        .limit(1)
    )
    found: SyncRunRow | None = session.execute(query).scalars().first()
    return found


def _operations(session: Any, sync_run_id: str) -> dict[str, int]:
    query = (
        select(col(PlanOperationRow.state), func.count())
        .where(col(PlanOperationRow.run_id) == sync_run_id)
        .group_by(col(PlanOperationRow.state))
    )
    return {state: int(count) for state, count in session.execute(query)}


def _facts(watch: SyncProgress | None, operations: dict[str, int]) -> tuple[list[tuple[str, str]], int, int]:
    if watch is not None:
        planned = "planned" if watch.planning_done else "planning"
        facts = [
            (planned, f"{watch.planned_contacts:,} contacts, {watch.planned_operations:,} operations"),
            ("sent", f"{watch.sent_calls:,} of ~{watch.estimated_calls:,} calls"),
            ("confirmed", f"{watch.confirmed_operations:,} operations"),
        ]
        return facts, watch.sent_calls, max(watch.estimated_calls, watch.sent_calls)
    if operations:
        total = sum(operations.values())
        finished = total - operations.get("pending", 0)
        facts = [
            ("planned", f"{total:,} operations"),
            ("confirmed", f"{operations.get('done', 0):,} done, {operations.get('rejected', 0):,} rejected"),
        ]
        return facts, finished, total
    return [], 0, 0
