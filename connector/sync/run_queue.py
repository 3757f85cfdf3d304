"""Syncs asked for by a person (the admin API's ``POST /admin/sync``, the console's resync): queued in
``admin_runs``, run one at a time in a worker thread of the service.

The request only writes the queued row; the worker claims it (``queued`` → ``running``, atomically, so two
service processes never both run it), opens a gateway and calls ``sync_audience``, then records the sync
run's id and how it ended. A request accepted is never dropped: when the service starts, its worker first
takes up what an earlier process left behind — requests still ``queued``, and ``running`` ones whose
audience lock nobody holds (their process died; the sync itself resumes from its persisted plan).

While a run goes, the worker keeps its :class:`SyncProgress` (planned, sent, confirmed) for the process's
progress pages (:meth:`RunWorker.watch`); another process reads the persisted plan instead.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy import select, update
from sqlmodel import col

from connector.errors import ConsentSyncError, PlanRefusedError, SyncBusyError
from connector.logs import redact_text
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminRunRow
from connector.sync.connect import open_gateway
from connector.sync.lock import audience_lock
from connector.sync.progress import SyncProgress
from connector.sync.run import sync_audience

log = structlog.get_logger("connector.api.admin_runs")
WATCHES_KEPT = 100


@dataclass(frozen=True, slots=True)
class RunRequest:
    audience: str
    contact: str | None
    full: bool
    allow_destructive: bool
    actor: str


def queue_run(ctx: AppContext, request: RunRequest) -> str:
    """Write the queued request; returns its id."""
    ctx.settings.audience(request.audience)  # ConfigError for an unknown audience
    row = AdminRunRow(
        id=str(uuid.uuid4()),
        audience=request.audience,
        contact=request.contact,
        full=request.full,
        allow_destructive=request.allow_destructive,
        actor=request.actor,
        status="queued",
        requested_at=ctx.now(),
    )
    with unit_of_work(ctx.engine) as session:
        session.add(row)
    return row.id


def run_queued(ctx: AppContext, run_id: str, watch: SyncProgress | None = None) -> None:
    """Perform one queued request (in the worker thread), unless another process claimed it first.

    ``watch``: updated as the run goes (planned, sent, confirmed)."""
    row = _claim(ctx, run_id)
    if row is None:
        return
    log.info("admin.sync.started", run_id=run_id, audience_id=row.audience)
    status, sync_run_id, error = _sync(ctx, row, watch)
    with unit_of_work(ctx.engine) as session:
        stored = session.get(AdminRunRow, run_id)
        assert stored is not None
        stored.status, stored.sync_run_id, stored.finished_at = status, sync_run_id, ctx.now()
        stored.contact = None  # the address was needed only to run; the sync run's report keeps the rest
        stored.error = redact_text(error)[:500] if error else None
    log.info("admin.sync.finished", run_id=run_id, status=status, sync_run_id=sync_run_id)


def _claim(ctx: AppContext, run_id: str) -> AdminRunRow | None:
    """Move the request from ``queued`` to ``running``; ``None`` if it is not (or no longer) queued."""
    with unit_of_work(ctx.engine) as session:
        claimed = session.execute(
            update(AdminRunRow)
            .where(col(AdminRunRow.id) == run_id, col(AdminRunRow.status) == "queued")
            .values(status="running")
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = session.get(AdminRunRow, run_id)
        assert row is not None
        session.expunge(row)
        return row


def left_behind(ctx: AppContext) -> list[str]:
    """Ids of the requests an earlier process accepted but did not finish, oldest first.

    A ``running`` request whose audience lock is free lost its process: it goes back to ``queued``.
    One whose lock is held is being run by a live process and is left alone.
    """
    with unit_of_work(ctx.engine) as session:
        rows = session.execute(
            select(col(AdminRunRow.id), col(AdminRunRow.audience), col(AdminRunRow.status))
            .where(col(AdminRunRow.status).in_(("queued", "running")))
            .order_by(col(AdminRunRow.requested_at), col(AdminRunRow.id))
        ).all()
    return [
        run_id for run_id, audience, status in rows if status == "queued" or _requeue(ctx, run_id, audience)
    ]


def _requeue(ctx: AppContext, run_id: str, audience: str) -> bool:
    try:
        with audience_lock(ctx, audience), unit_of_work(ctx.engine) as session:
            session.execute(
                update(AdminRunRow)
                .where(col(AdminRunRow.id) == run_id, col(AdminRunRow.status) == "running")
                .values(status="queued")
            )
    except SyncBusyError:
        return False
    log.warning("admin.sync.requeued", run_id=run_id, audience_id=audience)
    return True


def _sync(
    ctx: AppContext, row: AdminRunRow, watch: SyncProgress | None
) -> tuple[str, str | None, str | None]:
    try:
        with open_gateway(ctx.settings.mailchimp) as gateway:
            report = sync_audience(
                ctx,
                gateway,
                row.audience,
                full=row.full,
                contact=row.contact,
                allow_destructive=row.allow_destructive,
                watch=watch,
            )
    except PlanRefusedError as exc:
        return "refused", None, str(exc)
    except ConsentSyncError as exc:
        return "failed", None, str(exc)
    except Exception as exc:
        log.exception("admin.sync.crashed", run_id=row.id)
        return "failed", None, type(exc).__name__
    return "done", report.run_id, None


class RunWorker:
    """One background thread that performs queued runs in order."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admin-sync")
        self._watches: dict[str, SyncProgress] = {}
        """The progress of the runs submitted to this worker (this process), by request id."""

    def start(self) -> None:
        """Take up, in the worker thread, the requests an earlier process left behind."""
        self._pool.submit(self._take_up_left_behind)

    def submit(self, run_id: str) -> None:
        watch = self._watches.setdefault(run_id, SyncProgress())
        while len(self._watches) > WATCHES_KEPT:  # the oldest go (dicts keep insertion order)
            self._watches.pop(next(iter(self._watches)))
        self._pool.submit(run_queued, self._ctx, run_id, watch)

    def watch(self, run_id: str) -> SyncProgress | None:
        """How far the run is, when this process's worker runs (or ran) it; ``None`` otherwise."""
        return self._watches.get(run_id)

    def _take_up_left_behind(self) -> None:
        try:
            run_ids = left_behind(self._ctx)
        except Exception:
            log.exception("admin.sync.left_behind_failed")
            return
        if run_ids:
            log.info("admin.sync.taking_up", count=len(run_ids))
        for run_id in run_ids:
            run_queued(self._ctx, run_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
