"""Connections are set up on connect: SQLite so that an acknowledged commit survives a crash or a power
loss, PostgreSQL so that no statement is run with a plan made for other values."""

from pathlib import Path

import pytest
from sqlalchemy import text

from connector.store.engine import make_engine


def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_connections_plan_each_statement_for_its_values(database_url: str) -> None:
    """No generic plan is kept: one made while a table was nearly empty would scan it whole ever after.

    Runs on PostgreSQL only (skipped, visibly, when it is not configured); two connections held at
    once show that every new connection of the pool gets the setting, not only the first.
    """
    engine = make_engine(database_url)
    with engine.connect() as first, engine.connect() as second:
        assert first.dialect.name == "postgresql"
        for connection in (first, second):
            assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
    engine.dispose()
