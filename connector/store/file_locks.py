"""Exclusive, non-blocking file locks beside a SQLite database (``filelock``: a ``flock`` on Unix).

The kernel drops the lock with the process that holds it, so one killed with ``kill -9`` never blocks the
next; the lock file stays in place. Two locks of one path conflict within one process as across processes.
"""

from pathlib import Path

from filelock import BaseFileLock, FileLock, Timeout


def try_file_lock(path: Path) -> BaseFileLock | None:
    """The lock of ``path`` if this process now holds it; ``None`` if another holder has it.

    ``release()`` it from any thread (``thread_local=False``)."""
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None
    return lock
