"""Scheduler leadership: exactly one daemon per database owns the schedule.

PostgreSQL: a session-level advisory lock on a connection kept for the life of the process. When the
process dies, its connection closes and PostgreSQL drops the lock at once (for a vanished host, the
server's TCP keepalives set below notice within about 25 s). SQLite: an exclusive ``flock`` on a file next
to the database, dropped by the kernel when the process dies. An in-memory SQLite database has one
process by definition, so that process leads.
"""

import hashlib
from pathlib import Path
from typing import Protocol

import structlog
from filelock import BaseFileLock
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from connector.store.file_locks import try_file_lock
from connector.sync.lock import sidecar_path

log = structlog.get_logger(__name__)

KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


def leader_key() -> int:
    digest = hashlib.sha256(b"consent-sync:scheduler-leader").digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership(Protocol):
    def try_acquire(self) -> bool:
        """Become the leader if no one is; ``True`` when this process now leads."""
        ...

    def holds(self) -> bool:
        """Whether this process (which acquired earlier) still leads."""
        ...

    def release(self) -> None: ...


class AdvisoryLeadership:
    """``pg_try_advisory_lock`` on a dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            connection = self._engine.connect()
        except SQLAlchemyError as exc:
            log.warning("daemon.leader.unreachable", error=type(exc).__name__)
            return False
        try:
            for setting in KEEPALIVES:
                connection.execute(text(setting))
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": leader_key()}).scalar()
            connection.commit()
        except SQLAlchemyError as exc:
            log.warning("daemon.leader.unreachable", error=type(exc).__name__)
            connection.invalidate()
            return False
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def holds(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            self._connection.invalidate()
            self._connection = None
            return False
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": leader_key()})
            connection.commit()
            connection.close()
        except SQLAlchemyError:
            connection.invalidate()


class FileLeadership:
    """An exclusive ``flock`` on ``<database>.leader.lock``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock: BaseFileLock | None = None

    def try_acquire(self) -> bool:
        self._lock = try_file_lock(self._path)
        return self._lock is not None

    def holds(self) -> bool:
        return self._lock is not None

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


class SoleLeadership:
    """An in-memory database: the only process there is leads."""

    def __init__(self) -> None:
        self._held = False

    def try_acquire(self) -> bool:
        self._held = True
        return True

    def holds(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def leadership_for(engine: Engine) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLeadership(engine)
    path = sidecar_path(engine, "leader")
    return SoleLeadership() if path is None else FileLeadership(path)
