"""The ``sync_requests`` queue: a row asks for a prompt sync of its audience; a daemon claims it."""

from datetime import datetime

from sqlalchemy import Engine, delete
from sqlmodel import col

from connector.store.engine import unit_of_work
from connector.store.http_tables import SyncRequestRow
from connector.store.sync_requests import request_sync as upsert_request


def request_sync(engine: Engine, audience: str, at: datetime) -> None:
    """Ask for a sync of ``audience`` in its own transaction (the same upsert webhooks use)."""
    with unit_of_work(engine) as session:
        upsert_request(session, audience, at)


def claim_request(engine: Engine, audience: str) -> datetime | None:
    """Take the audience's request if there is one: its time, or ``None`` (none, or another took it)."""
    with unit_of_work(engine) as session:
        row = session.get(SyncRequestRow, audience)
        if row is None:
            return None
        seen = row.requested_at
        claim = delete(SyncRequestRow).where(
            col(SyncRequestRow.audience) == audience, col(SyncRequestRow.requested_at) <= seen
        )
        taken = session.execute(claim).rowcount  # type: ignore[attr-defined]
    return seen if taken == 1 else None
