"""``/console/runs``: the history of runs, one run's report and plan as readable lines, and a resync of an
audience: the dry-run plan first, then apply (``allow-destructive`` only for admins, with a reason)."""

from typing import Any

import structlog
from fastapi import APIRouter, Request
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from connector.console.pages import Viewer, form_of, record, render, viewer
from connector.console.run_progress import RunProgress, run_progress
from connector.console.words import word
from connector.core.console_roles import Permission
from connector.errors import ConsentSyncError
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.sync.run_queue import RunWorker

router = APIRouter(prefix="/runs")
log = structlog.get_logger("connector.console")
SHOWN = 50
PLAN_LINES = 500


def _history(who: Viewer) -> list[SyncRunRow]:
    with unit_of_work(who.ctx.engine) as session:
        query = select(SyncRunRow).order_by(col(SyncRunRow.started_at).desc()).limit(SHOWN)
        return list(session.exec(query).all())


def _run(who: Viewer, run_id: str) -> tuple[SyncRunRow | None, list[str]]:
    from connector.sync.explain import describe
    from connector.sync.stored_plan import decode

    with unit_of_work(who.ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        query = (
            select(PlanOperationRow)
            .where(col(PlanOperationRow.run_id) == run_id)
            .order_by(col(PlanOperationRow.seq))
            .limit(PLAN_LINES)
        )
        lines = [
            f"{op.state:8} member {op.subscriber_hash[:8]}: {describe(decode(op))}"
            for op in session.exec(query).all()
        ]
    return run, lines


@router.get("")
async def runs_page(request: Request) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    runs = await run_in_threadpool(_history, who)
    return render(
        request,
        who.session,
        "runs.html",
        user=who.user,
        runs=runs,
        planned=None,
        audiences=[a.name for a in who.ctx.settings.audiences],
        may_resync=who.may(Permission.RESYNC),
        may_destroy=who.may(Permission.DESTRUCTIVE),
    )


@router.get("/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    run, lines = await run_in_threadpool(_run, who, run_id)
    if run is None:
        return render(request, who.session, "problem.html", status=404, user=who.user, message="no such run")
    return render(request, who.session, "run.html", user=who.user, run=run, lines=lines)


def _options(who: Viewer, form: dict[str, Any]) -> tuple[str, bool, str]:
    from connector.errors import InputError

    audience = str(form.get("audience", "")) or who.ctx.settings.audiences[0].name
    who.ctx.settings.audience(audience)
    destructive = form.get("allow_destructive") == "yes"
    reason = str(form.get("reason", "")).strip()
    if destructive and not who.may(Permission.DESTRUCTIVE):
        raise InputError("allow_destructive", "only an admin may allow a destructive plan; nothing was done")
    if destructive and not reason:
        raise InputError("reason", "give the reason for allowing a destructive plan; nothing was done")
    return audience, destructive, reason


def _plan(who: Viewer, form: dict[str, Any]) -> dict[str, Any]:
    from connector.sync.explain import render as render_plan
    from connector.sync.run import plan_audience

    audience, destructive, reason = _options(who, form)
    planned = plan_audience(who.ctx, audience, allow_destructive=destructive)
    return {
        "audience": audience,
        "destructive": destructive,
        "reason": reason,
        "lines": render_plan(planned.plan, planned.emails)[:PLAN_LINES],
        "violations": list(planned.safety.violations),
        "refused": not planned.safety.ok,
    }


def _queue(who: Viewer, form: dict[str, Any], worker: RunWorker) -> dict[str, Any]:
    """Queue the resync on the service's run worker (the admin API's), to run in the background."""
    from connector.sync.run_queue import RunRequest, queue_run

    audience, destructive, reason = _options(who, form)
    if destructive:
        log.warning("console.destructive_allowed", user=who.user.name, audience=audience, reason=reason[:200])
    run_id = queue_run(who.ctx, RunRequest(audience, None, False, destructive, f"console:{who.user.name}"))
    worker.submit(run_id)
    return {"audience": audience, "destructive": destructive, "reason": reason, "run_id": run_id}


async def _step(request: Request, work: Any) -> Response:
    who = await viewer(request, Permission.RESYNC)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    try:
        planned = await run_in_threadpool(work, who, form)
    except ConsentSyncError as exc:
        return await _refused(request, who, exc)
    await run_in_threadpool(
        record, who, request, 200, _audit_note(planned, f"audience={planned['audience']}")
    )
    runs = await run_in_threadpool(_history, who)
    return render(
        request,
        who.session,
        "runs.html",
        user=who.user,
        runs=runs,
        planned=planned,
        audiences=[a.name for a in who.ctx.settings.audiences],
        may_resync=True,
        may_destroy=who.may(Permission.DESTRUCTIVE),
    )


@router.post("/plan")
async def plan(request: Request) -> Response:
    return await _step(request, _plan)


@router.post("/apply")
async def apply(request: Request) -> Response:
    """Queue the resync and show its progress page (``303``): it runs in the background."""
    who = await viewer(request, Permission.RESYNC)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    worker: RunWorker = request.app.state.run_worker
    try:
        queued = await run_in_threadpool(_queue, who, form, worker)
    except ConsentSyncError as exc:
        return await _refused(request, who, exc)
    note = _audit_note(queued, f"audience={queued['audience']} run={queued['run_id']}")
    await run_in_threadpool(record, who, request, 303, note)
    return RedirectResponse(f"/console/runs/jobs/{queued['run_id']}", status_code=303)


async def _progress_of(request: Request, who: Viewer, run_id: str) -> RunProgress | None:
    worker: RunWorker = request.app.state.run_worker
    return await run_in_threadpool(run_progress, who.ctx, run_id, worker.watch(run_id))


@router.get("/jobs/{run_id}")
async def job_page(request: Request, run_id: str) -> Response:
    """The resync's progress (planned, sent, confirmed) until it ends, then its report. Without script
    the page is reloaded by its link; with it (``progress.js``) it redraws itself and reloads at the end."""
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    job = await _progress_of(request, who, run_id)
    if job is None:
        return render(request, who.session, "problem.html", status=404, user=who.user, message="no such run")
    return render(
        request,
        who.session,
        "run_progress.html",
        user=who.user,
        job=job,
        labelled=lambda facts: [(word(key, who.lang), text) for key, text in facts],
        scripts=not job.finished,
    )


@router.get("/jobs/{run_id}/state")
async def job_state(request: Request, run_id: str) -> Response:
    """The progress as JSON, for the page's script."""
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    job = await _progress_of(request, who, run_id)
    if job is None:
        return JSONResponse({"detail": "no such run"}, status_code=404, headers={"Cache-Control": "no-store"})
    state = job.state()
    state["facts"] = [[word(key, who.lang), value] for key, value in state["facts"]]
    state["status_text"] = word(f"status_{job.status}", who.lang)
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


async def _refused(request: Request, who: Viewer, exc: ConsentSyncError) -> Response:
    """A resync step the services refused: audited as 422, and the reason shown."""
    await run_in_threadpool(record, who, request, 422)
    return render(request, who.session, "problem.html", status=422, user=who.user, message=str(exc))


def _audit_note(step: dict[str, Any], note: str) -> str:
    """The audit log's note of a resync step; a destructive one names its reason."""
    if step["destructive"]:
        note += f" allow-destructive reason={step['reason']}"
    return note
