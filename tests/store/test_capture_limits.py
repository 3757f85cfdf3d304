"""The capture rate-limit counter: the migration matches the table, and counting agrees with a model of
fixed windows for any sequence of hits (hypothesis), on SQLite and PostgreSQL."""

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import SQLModel

from connector.services.context import AppContext
from connector.store.capture_limits import count_hit
from connector.store.capture_tables import CaptureLimitRow
from connector.store.engine import unit_of_work
from tests.conftest import START

WINDOW = timedelta(minutes=10)


def test_the_migration_creates_the_table_as_declared(ctx: AppContext) -> None:
    with ctx.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in differences if "capture_limits" in repr(d)] == []


def _model(steps: list[tuple[str, int]]) -> list[int]:
    """Hits per key in fixed windows that start at a key's first hit after the last window ended."""
    started: dict[str, int] = {}
    hits: dict[str, int] = {}
    counted = []
    at = 0
    for key, gap in steps:
        at += gap
        if key not in started or started[key] <= at - 600:
            started[key], hits[key] = at, 0
        hits[key] += 1
        counted.append(hits[key])
    return counted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["ip:a", "ip:b", "email:c"]), st.integers(0, 400)), max_size=25))
def test_counting_agrees_with_fixed_windows(ctx: AppContext, steps: list[tuple[str, int]]) -> None:
    with unit_of_work(ctx.engine) as session:
        session.execute(delete(CaptureLimitRow))
    counted = []
    at = START
    for key, gap in steps:
        at += timedelta(seconds=gap)
        with unit_of_work(ctx.engine) as session:
            started, hits = count_hit(session, key, at, WINDOW)
        assert started <= at < started + WINDOW
        counted.append(hits)
    assert counted == _model(steps)
