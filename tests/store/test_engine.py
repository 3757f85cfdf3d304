"""SQLite connections are set up so that an acknowledged commit survives a crash or a power loss."""

from pathlib import Path

from sqlalchemy import text

from connector.services.context import AppContext
from connector.store.engine import make_engine


def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_postgresql_connections_plan_each_statement_for_its_values(ctx: AppContext) -> None:
    """No generic plan is kept: one made while a table was nearly empty would scan it whole ever after."""
    with ctx.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            return
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
