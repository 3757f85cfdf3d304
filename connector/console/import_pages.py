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
from starlette.responses import Response

from connector.console.pages import Viewer, form_of, record, render, viewer
from connector.core.console_roles import Permission
from connector.errors import ConsentSyncError

router = APIRouter(prefix="/imports")
MAX_UPLOAD = 5 * 1024 * 1024
UPLOADS = Path(tempfile.gettempdir()) / "consent-sync-console-uploads"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _report(who: Viewer, path: Path, apply: bool) -> dict[str, Any]:
    from connector.imports.report import plan_document
    from connector.imports.service import ImportRequest, run_import

    request = ImportRequest(paths=[path], apply=apply, operator=f"console:{who.user.name}")
    plan = run_import(who.ctx, request)
    text = json.dumps(plan_document(plan, applied=apply), indent=2, ensure_ascii=False, default=str)
    text = text.replace(json.dumps(str(path.parent) + "/")[1:-1], "")  # "name.csv:3:E-post", not the folder
    (path.parent / ("applied.json" if apply else "dry-run.json")).write_text(text, encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


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
    path = UPLOADS / sha / _SAFE.sub("_", Path(file.filename).name)[-100:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        report = await run_in_threadpool(_report, who, path, False)
    except ConsentSyncError as exc:
        await run_in_threadpool(record, who, request, 422)
        return _page(request, who, 422, error=f"{file.filename}: {exc}; nothing was imported")
    await run_in_threadpool(record, who, request, 200, f"sha256={sha[:12]}")
    return _page(request, who, report=report, sha=sha)


@router.post("/apply")
async def apply(request: Request) -> Response:
    who = await viewer(request, Permission.IMPORT)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    sha = str(form.get("sha", ""))
    found = [p for p in (UPLOADS / sha).glob("*") if p.suffix != ".json"] if _SHA.match(sha) else []
    path = found[0] if found else UPLOADS / "missing"
    if not found:
        return _page(request, who, 404, error="that upload is gone; upload the file again")
    try:
        report = await run_in_threadpool(_report, who, path, True)
    except ConsentSyncError as exc:
        await run_in_threadpool(record, who, request, 422)
        return _page(request, who, 422, error=str(exc))
    await run_in_threadpool(record, who, request, 200, f"sha256={sha[:12]}")
    return _page(request, who, report=report, sha=None)


def waiting_imports() -> int:
    """Uploads whose dry-run report was read but that were never applied (they need a person)."""
    if not UPLOADS.is_dir():
        return 0
    return sum(
        1 for d in UPLOADS.iterdir() if (d / "dry-run.json").exists() and not (d / "applied.json").exists()
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
