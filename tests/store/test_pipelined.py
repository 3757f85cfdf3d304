"""Writes sent together (psycopg's pipeline mode): the same rows, the same errors, a usable store after."""

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from connector.services.context import AppContext
from connector.store.engine import pipelined, unit_of_work
from connector.store.http_tables import SyncRequestRow
from tests.conftest import START

INSERT_REQUEST = text("INSERT INTO sync_requests (audience, requested_at) VALUES (:audience, :at)")


def _written_together(
    bind: Engine | Connection, *statements: list[dict[str, object]], commit: bool = False
) -> None:
    """One transaction whose statements (each with its rows) run in a pipeline, its commit too if told."""
    with unit_of_work(bind) as session, pipelined(session, commit=commit):
        for rows in statements:
            session.connection().execute(INSERT_REQUEST, rows)


def _requests(ctx: AppContext) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(select(func.count()).select_from(SyncRequestRow)).scalar_one())


@pytest.mark.parametrize("commit", [False, True], ids=["commit-after", "commit-inside"])
def test_pipelined_writes_commit_like_any_others(ctx: AppContext, commit: bool) -> None:
    _written_together(
        ctx.engine,
        [{"audience": a, "at": START} for a in ("main", "other")],
        [{"audience": "third", "at": START}],
        commit=commit,
    )
    assert _requests(ctx) == 3


@pytest.mark.parametrize("commit", [False, True], ids=["commit-after", "commit-inside"])
def test_a_unique_key_violation_in_a_pipeline_is_an_integrity_error_and_writes_nothing(
    ctx: AppContext, commit: bool
) -> None:
    once = [{"audience": "main", "at": START}]
    with pytest.raises(IntegrityError):
        _written_together(ctx.engine, once, once, commit=commit)
    assert _requests(ctx) == 0


@pytest.mark.parametrize("commit", [False, True], ids=["commit-after", "commit-inside"])
def test_a_held_connection_works_on_after_a_failed_pipeline(ctx: AppContext, commit: bool) -> None:
    held: Connection = ctx.engine.connect()
    try:
        with pytest.raises(IntegrityError):
            _written_together(held, [{"audience": "main", "at": START}] * 2, commit=commit)
        _written_together(held, [{"audience": "main", "at": START}], commit=commit)
    finally:
        held.close()
    assert _requests(ctx) == 1
