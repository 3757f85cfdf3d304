"""The console's imports as background jobs: one at a time, in a thread of the serve process.

A job's state is a file beside its upload (``job.json``: the step, ``running``/``done``/``failed``, rows
read of the rows estimated, the error), so a progress page served by any worker process of this host
reads it. The job holds a file lock (``job.lock``) while it runs: a second start of the same upload
finds it taken, and a ``running`` state whose lock is free lost its process (``interrupted``).
"""

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog
from filelock import BaseFileLock

from connector.errors import ConsentSyncError
from connector.store.file_locks import try_file_lock

log = structlog.get_logger("connector.console")
JOB_FILE = "job.json"
LOCK_FILE = "job.lock"
WRITE_EVERY_SECONDS = 0.5
"""How often a running job rewrites its state (rows read) at most."""

Advance = Callable[[int], None]
Work = Callable[[Advance], object]
"""The job's work, given the callable it reports rows read to."""

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-import")


@dataclass(frozen=True, slots=True)
class ImportJob:
    step: str
    """``dry-run`` or ``apply``."""
    state: str
    """``running``, ``done``, ``failed``, or ``interrupted`` (read back: its process is gone)."""
    user: str
    rows: int = 0
    estimated_rows: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state != "running"


def start(folder: Path, step: str, user: str, estimated_rows: int, work: Work) -> bool:
    """Run ``work`` in the background for the upload in ``folder``; ``False`` if a job of it still runs."""
    lock = try_file_lock(folder / LOCK_FILE)
    if lock is None:
        return False
    _write(folder, ImportJob(step, "running", user, 0, estimated_rows))
    try:
        _POOL.submit(_run, folder, lock, ImportJob(step, "running", user, 0, estimated_rows), work)
    except RuntimeError:  # the pool is shut down (the interpreter is exiting)
        lock.release()
        raise
    return True


def read(folder: Path) -> ImportJob | None:
    """The upload's last job, or ``None`` if none was started for it."""
    try:
        found: dict[str, Any] = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        job = ImportJob(**found)
    except (OSError, ValueError, TypeError):
        return None
    if job.state == "running":
        free = try_file_lock(folder / LOCK_FILE)
        if free is not None:  # nobody holds it: the process that ran the job is gone
            free.release()
            return ImportJob(job.step, "interrupted", job.user, job.rows, job.estimated_rows, job.error)
    return job


def _run(folder: Path, lock: BaseFileLock, job: ImportJob, work: Work) -> None:
    rows = 0
    written = time.monotonic()

    def advance(count: int) -> None:
        nonlocal rows, written
        rows += count
        now = time.monotonic()
        if now - written >= WRITE_EVERY_SECONDS:
            written = now
            _write(folder, ImportJob(job.step, "running", job.user, rows, job.estimated_rows))

    try:
        work(advance)
        final = ImportJob(job.step, "done", job.user, rows, max(job.estimated_rows, rows))
    except ConsentSyncError as exc:
        final = ImportJob(job.step, "failed", job.user, rows, job.estimated_rows, _without(folder, str(exc)))
    except Exception as exc:
        log.exception("console.import.crashed", step=job.step)
        final = ImportJob(job.step, "failed", job.user, rows, job.estimated_rows, type(exc).__name__)
    try:
        _write(folder, final)
    finally:
        lock.release()
    log.info("console.import.finished", step=job.step, state=final.state, rows=rows)


def _write(folder: Path, job: ImportJob) -> None:
    """Replace the state file whole (a reader never sees half of it)."""
    partial = folder / f".{JOB_FILE}.{os.getpid()}.{threading.get_ident()}"
    partial.write_text(json.dumps(asdict(job)), encoding="utf-8")
    os.replace(partial, folder / JOB_FILE)


def _without(folder: Path, text: str) -> str:
    """The message without the upload folder's path: ``name.csv:3``, not ``/tmp/…/name.csv:3``."""
    return text.replace(str(folder) + os.sep, "")
