"""One run per audience at a time: a PostgreSQL advisory lock, or a lock row on SQLite."""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, text, update
from sqlmodel import col

from connector.errors import SyncBusyError
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow

STALE_AFTER = timedelta(hours=1)
"""A SQLite lock row older than this belongs to a crashed process and may be taken over."""


@contextmanager
def audience_lock(ctx: AppContext, audience: str) -> Iterator[None]:
    """Hold the audience's lock for the block; ``SyncBusyError`` if another run holds it."""
    if ctx.engine.dialect.name == "postgresql":
        with _advisory_lock(ctx, audience):
            yield
    else:
        with _row_lock(ctx, audience):
            yield


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
def _row_lock(ctx: AppContext, audience: str) -> Iterator[None]:
    token = str(uuid.uuid4())
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        if session.get(AudienceStateRow, audience) is None:
            session.add(AudienceStateRow(audience=audience))
    free = or_(col(AudienceStateRow.locked_by).is_(None), col(AudienceStateRow.locked_at) < now - STALE_AFTER)
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
