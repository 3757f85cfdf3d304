"""Shared fixtures: a migrated database on SQLite always and on PostgreSQL when configured.

Set ``CONSENT_SYNC_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to
run every store test on PostgreSQL too. In CI (``CI=true``) a missing PostgreSQL fails instead of
skipping, so both back ends are always exercised there.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.services.context import AppContext
from connector.settings import Settings, load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from tests.postgres import reset_postgres

pytest_plugins = ["tests.cli_env"]
"""The ``env`` fixture of the command-line tests (``tests/cli_env.py``)."""

POSTGRES_VARIABLE = "CONSENT_SYNC_TEST_DATABASE_URL"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = START
    ticks: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_VARIABLE)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{POSTGRES_VARIABLE} must be set in CI: PostgreSQL tests may not be skipped there")
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated database: SQLite in a temp dir, or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        found = _postgres_url()
        if found is None:
            pytest.skip(f"PostgreSQL not configured: set {POSTGRES_VARIABLE}")
        url = found
        reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        None,
        database={"url": database_url},
        security={"suppression_key_file": str(tmp_path / "test.key")},
    )


@pytest.fixture
def ctx(settings: Settings, clock: FakeClock) -> Iterator[AppContext]:
    engine = make_engine(settings.database.url)
    yield AppContext(settings=settings, engine=engine, suppression_key=b"test-suppression-key", clock=clock)
    engine.dispose()
