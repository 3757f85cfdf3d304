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
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from connector.services.context import AppContext
from connector.settings import Settings, load_settings
from connector.store.engine import make_engine
from tests.fresh_database import copy_sqlite, fresh_postgres, migrated_sqlite

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


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (``test_gw0``, …): the tests
    reset their database's schema, so two workers may never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get(POSTGRES_VARIABLE)
    if worker and url:
        parsed = make_url(url)
        own = parsed.set(database=f"{parsed.database}_{worker}")
        _create_database(url, str(own.database))
        os.environ[POSTGRES_VARIABLE] = own.render_as_string(hide_password=False)


def _create_database(server_url: str, name: str) -> None:
    """Create the database ``name`` beside the one at ``server_url`` unless it exists. An unreachable
    server is left to the tests, which skip (or fail in CI) with the reason."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        return
    finally:
        engine.dispose()


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_VARIABLE)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{POSTGRES_VARIABLE} must be set in CI: PostgreSQL tests may not be skipped there")
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store that each SQLite test gets a copy of (tests/fresh_database.py)."""
    return migrated_sqlite(tmp_path_factory.mktemp("template") / "store.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database: SQLite in a temp dir, or the PostgreSQL database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    found = _postgres_url()
    if found is None:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_VARIABLE}")
    fresh_postgres(found)
    return found


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
