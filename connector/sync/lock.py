"""One run per audience at a time: a PostgreSQL advisory lock, or a file lock plus a lock row on SQLite.

Both die with the process that holds them (the session's connection closes; the kernel drops the
file lock), so a run killed with ``kill -9`` never blocks the next one. An in-memory SQLite database has
no file to lock and keeps only the row.
"""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, or_, text, true, update
from sqlmodel import col

from connector.errors import SyncBusyError
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.file_locks import try_file_lock
from connector.store.sync_tables import AudienceStateRow

STALE_AFTER = timedelta(hours=1)
"""Without a file lock (in-memory SQLite), a lock row older than this may be taken over."""


@contextmanager
def audience_lock(ctx: AppContext, audience: str) -> Iterator[None]:
    """Hold the audience's lock for the block; ``SyncBusyError`` if another run holds it."""
    if ctx.engine.dialect.name == "postgresql":
        with _advisory_lock(ctx, audience):
            yield
    else:
        path = sidecar_path(ctx.engine, f"audience-{audience}")
        with _file_lock(path, audience) as exclusive, _row_lock(ctx, audience, takeover=exclusive):
            yield


def sidecar_path(engine: Engine, name: str) -> Path | None:
    """``<database file>.<name>.lock`` next to a SQLite database file; ``None`` for an in-memory one."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(f"{database}.{name}.lock")


@contextmanager
def _file_lock(path: Path | None, audience: str) -> Iterator[bool]:
    """Hold the audience's file lock; yields whether there was a file to lock."""
    if path is None:
        yield False
        return
    lock = try_file_lock(path)
    if lock is None:
        raise SyncBusyError(f"audience {audience!r}: another run holds its lock; try again later")
    try:
        yield True
    finally:
        lock.release()


def lock_key(audience: str) -> int:
    digest = hashlib.sha256(f"consent-sync:audience:{audience}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _advisory_lock(ctx: AppContext, audience: str) -> Iterator[None]:
    key = {"key": lock_key(audience)}
    with ctx.engine.connect() as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar()
        connection.commit()
        if not taken:
            raise SyncBusyError(f"audience {audience!r}: another run holds its lock; try again later")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
            connection.commit()


@contextmanager
def _row_lock(ctx: AppContext, audience: str, *, takeover: bool) -> Iterator[None]:
    """``takeover``: the caller holds the file lock, so a row still marked is a dead process's."""
    token = str(uuid.uuid4())
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        if session.get(AudienceStateRow, audience) is None:
            session.add(AudienceStateRow(audience=audience))
    free = or_(col(AudienceStateRow.locked_by).is_(None), col(AudienceStateRow.locked_at) < now - STALE_AFTER)
    if takeover:
        free = true()
    take = (
        update(AudienceStateRow)
        .where(col(AudienceStateRow.audience) == audience, free)
        .values(locked_by=token, locked_at=now)
    )
    with unit_of_work(ctx.engine) as session:
        if session.execute(take).rowcount != 1:  # type: ignore[attr-defined]
            raise SyncBusyError(f"audience {audience!r}: another run holds its lock; try again later")
    try:
        yield
    finally:
        release = (
            update(AudienceStateRow)
            .where(col(AudienceStateRow.audience) == audience, col(AudienceStateRow.locked_by) == token)
            .values(locked_by=None, locked_at=None)
        )
        with unit_of_work(ctx.engine) as session:
            session.execute(release)
