"""One send of a notice at a time: a PostgreSQL advisory lock, or a file lock next to the
SQLite database. Both die with the process holding them, so a send killed with ``kill -9`` never blocks
its resumption. (The same mechanism as the sync's audience lock in ``connector.sync.lock``, which this
layer cannot import.)"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from connector.errors import ConsentSyncError
from connector.services.context import AppContext
from connector.store.file_locks import try_file_lock


class NoticeBusyError(ConsentSyncError):
    """Another process is sending this notice."""


@contextmanager
def notice_send_lock(ctx: AppContext, notice_id: str) -> Iterator[None]:
    busy = NoticeBusyError(f"notice {notice_id!r}: another send of it is running; try again when it ends")
    digest = hashlib.sha256(f"consent-sync:notice:{notice_id}".encode()).digest()
    if ctx.engine.dialect.name == "postgresql":
        key = {"key": int.from_bytes(digest[:8], "big", signed=True)}
        with ctx.engine.connect() as connection:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar()
            connection.commit()
            if not taken:
                raise busy
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                connection.commit()
        return
    database = ctx.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock = try_file_lock(Path(f"{database}.notice-{digest[:8].hex()}.lock"))
    if lock is None:
        raise busy
    try:
        yield
    finally:
        lock.release()
