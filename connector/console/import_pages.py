"""``/console/imports``: upload a CSV, read the dry-run report (encoding, delimiter, mapped columns,
blocked and rejected rows with their line numbers), then apply it. The file and its reports are kept in
the upload folder (``<sha256>/<file name>``, ``dry-run.json`` and ``applied.json`` beside it)."""

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from connector.console import import_jobs
from connector.console.pages import Viewer, form_of, record, render, viewer
from connector.console.words import word
from connector.core.console_roles import Permission
from connector.services.context import AppContext

router = APIRouter(prefix="/imports")
MAX_UPLOAD = 5 * 1024 * 1024
UPLOADS = Path(tempfile.gettempdir()) / "consent-sync-console-uploads"
"""Every store's upload folders, each in a folder of its own (:func:`upload_folder`)."""
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def upload_folder(ctx: AppContext) -> Path:
    """The upload folder of this store: a folder named by a hash of the database's URL, so that two
    deployments on one host (or two test databases) never see each other's uploads, jobs or reports,
    while the serve workers of one deployment share them."""
    name = hashlib.sha256(ctx.settings.database.url.encode()).hexdigest()[:16]
    return UPLOADS / name


def _report(
    who: Viewer, path: Path, apply: bool, advance: import_jobs.Advance | None = None
) -> dict[str, Any]:
    from connector.imports.report import plan_document
    from connector.imports.service import ImportRequest, run_import

    request = ImportRequest(paths=[path], apply=apply, operator=f"console:{who.user.name}")
    plan = run_import(who.ctx, request, advance)
    text = json.dumps(plan_document(plan, applied=apply), indent=2, ensure_ascii=False, default=str)
    text = text.replace(json.dumps(str(path.parent) + "/")[1:-1], "")  # "name.csv:3:E-post", not the folder
    (path.parent / ("applied.json" if apply else "dry-run.json")).write_text(text, encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _start(who: Viewer, path: Path, apply: bool) -> None:
    """The dry-run (or the apply) of the upload at ``path`` as a background job (none if one runs)."""
    from connector.imports.estimate import estimated_rows

    step = "apply" if apply else "dry-run"
    if not apply:
        for stale in ("dry-run.json", "applied.json"):
            (path.parent / stale).unlink(missing_ok=True)
    import_jobs.start(
        path.parent,
        step,
        who.user.name,
        estimated_rows([path]),
        lambda advance: _report(who, path, apply, advance),
    )


@router.get("")
async def imports_page(request: Request) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    return _page(request, who)


def _page(request: Request, who: Viewer, status: int = 200, **values: Any) -> Response:
    values.setdefault("report", None)
    values.setdefault("sha", None)
    values.setdefault("error", None)
    return render(
        request,
        who.session,
        "imports.html",
        status=status,
        user=who.user,
        may_import=who.may(Permission.IMPORT),
        **values,
    )


@router.post("/upload")
async def upload(request: Request) -> Response:
    who = await viewer(request, Permission.IMPORT)
    if isinstance(who, Response):
        return who
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD + 64 * 1024:
        return _page(request, who, 413, error=_too_big())
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _page(request, who, 422, error="file: choose a CSV file to upload")
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(request, who, 413, error=_too_big())
    problem = _not_csv(file.filename, data)
    if problem:
        await run_in_threadpool(record, who, request, 422)
        return _page(request, who, 422, error=f"{file.filename}: {problem}; nothing was imported")
    sha = hashlib.sha256(data).hexdigest()
    path = upload_folder(who.ctx) / sha / _SAFE.sub("_", Path(file.filename).name)[-100:]
    path.parent.mkdir(parents=True, exist_ok=True)
    current = import_jobs.read(path.parent)
    if current is None or current.finished:
        await run_in_threadpool(_write_upload, path, data)
        await run_in_threadpool(_start, who, path, False)
    await run_in_threadpool(record, who, request, 303, f"sha256={sha[:12]}")
    return RedirectResponse(f"/console/imports/{sha}", status_code=303)


@router.post("/apply")
async def apply(request: Request) -> Response:
    """Apply the upload read before, as a background job, and show its progress (``303``)."""
    who = await viewer(request, Permission.IMPORT)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    sha = str(form.get("sha", ""))
    path = _upload(who.ctx, sha)
    if path is None:
        return _page(request, who, 404, error=_GONE)
    job = import_jobs.read(path.parent)
    if job is None or job.finished:
        await run_in_threadpool(_start, who, path, True)
    await run_in_threadpool(record, who, request, 303, f"sha256={sha[:12]}")
    return RedirectResponse(f"/console/imports/{sha}", status_code=303)


@router.get("/{sha}")
async def upload_page(request: Request, sha: str) -> Response:
    """The upload's job: its progress (rows read) while it runs, then its report (with Apply after a
    dry-run). Reloaded by its link without script; ``progress.js`` redraws it and reloads at the end."""
    who = await viewer(request, Permission.IMPORT)
    if isinstance(who, Response):
        return who
    path = _upload(who.ctx, sha)
    job = import_jobs.read(path.parent) if path is not None else None
    if path is None or job is None:
        return _page(request, who, 404, error=_GONE)
    name = path.name
    if not job.finished:
        return render(
            request,
            who.session,
            "import_progress.html",
            user=who.user,
            sha=sha,
            name=name,
            job=job,
            facts=_facts(who, job),
            scripts=True,
        )
    if job.state == "interrupted":
        return _page(request, who, 409, error=f"{name}: {word('interrupted', who.lang)}")
    if job.state == "failed":
        return _page(request, who, 422, error=f"{name}: {job.error}; nothing was imported")
    report_file = path.parent / ("applied.json" if job.step == "apply" else "dry-run.json")
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _page(request, who, 404, error=_GONE)
    return _page(request, who, report=report, sha=sha if job.step == "dry-run" else None)


@router.get("/{sha}/state")
async def upload_state(request: Request, sha: str) -> Response:
    """The job's progress as JSON, for the page's script."""
    who = await viewer(request, Permission.IMPORT)
    if isinstance(who, Response):
        return who
    path = _upload(who.ctx, sha)
    job = import_jobs.read(path.parent) if path is not None else None
    if job is None:
        return JSONResponse({"detail": "no such upload"}, status_code=404, headers=_NO_STORE)
    state = {
        "status": job.state,
        "status_text": word(f"status_{job.state}", who.lang) if job.state != "interrupted" else job.state,
        "finished": job.finished,
        "facts": [list(pair) for pair in _facts(who, job)],
        "value": job.rows,
        "max": max(job.estimated_rows, job.rows),
    }
    return JSONResponse(state, headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}
_GONE = "that upload is gone; upload the file again"


def _facts(who: Viewer, job: import_jobs.ImportJob) -> list[tuple[str, str]]:
    step = word("import_apply" if job.step == "apply" else "import_dry_run", who.lang)
    return [
        (word("kind", who.lang), step),
        (word("rows_read", who.lang), f"{job.rows:,} of ~{job.estimated_rows:,}"),
    ]


def _upload(ctx: AppContext, sha: str) -> Path | None:
    """The uploaded file of ``sha``, if it is still kept."""
    if not _SHA.match(sha):
        return None
    found = [
        p
        for p in (upload_folder(ctx) / sha).glob("*")
        if p.is_file() and not p.name.endswith((".json", ".lock"))
    ]
    return found[0] if found else None


def _write_upload(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def waiting_imports(ctx: AppContext) -> int:
    """Uploads whose dry-run report was read but that were never applied (they need a person)."""
    folder = upload_folder(ctx)
    if not folder.is_dir():
        return 0
    return sum(
        1 for d in folder.iterdir() if (d / "dry-run.json").exists() and not (d / "applied.json").exists()
    )


def _too_big() -> str:
    return f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB; nothing was imported"


def _not_csv(name: str, data: bytes) -> str | None:
    if not name.lower().endswith((".csv", ".txt", ".tsv")):
        return "not a CSV file (the name should end in .csv)"
    if b"\x00" in data[:8192] or data[:4] in (b"PK\x03\x04", b"%PDF") or data[:2] == b"\x89P":
        return "not a CSV file (it holds binary data)"
    if not data.strip():
        return "the file is empty"
    return None
