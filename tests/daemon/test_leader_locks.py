"""The leadership locks themselves: exclusive, released with their connection or file, re-acquirable."""

from pathlib import Path

import pytest
from sqlalchemy import text, update

from connector.daemon.leader import AdvisoryLeadership, FileLeadership, leadership_for
from connector.errors import SyncBusyError
from connector.services.context import AppContext, system_clock
from connector.settings import load_settings
from connector.store.engine import make_engine, unit_of_work
from connector.store.migrate import upgrade
from connector.store.sync_tables import AudienceStateRow
from connector.sync.lock import audience_lock
from tests.daemon.conftest import postgres_url


def test_advisory_leadership_is_exclusive_and_lost_with_its_connection() -> None:
    engine = make_engine(postgres_url())
    try:
        first, second = AdvisoryLeadership(engine), AdvisoryLeadership(engine)
        assert first.try_acquire()
        assert first.holds()
        assert not second.try_acquire()
        with engine.connect() as admin:  # the leader's session dies, as when its process is killed
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d "
                    "ON d.oid = l.database WHERE d.datname = current_database() "
                    "AND l.locktype = 'advisory' AND l.pid <> pg_backend_pid()"
                )
            )
        assert not first.holds()
        assert second.try_acquire()
        assert not first.try_acquire()
        second.release()
        assert first.try_acquire()
        first.release()
    finally:
        engine.dispose()


def test_file_leadership_is_exclusive_and_released(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    first, second = leadership_for(engine), leadership_for(engine)
    assert isinstance(first, FileLeadership)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert (tmp_path / "store.db.leader.lock").exists()
    second.release()
    engine.dispose()


def test_sqlite_audience_lock_is_exclusive_and_ignores_a_dead_holders_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    ctx = AppContext(load_settings(None, database={"url": url}), make_engine(url), b"key", system_clock)
    with audience_lock(ctx, "main"), pytest.raises(SyncBusyError), audience_lock(ctx, "main"):
        pass
    with unit_of_work(ctx.engine) as session:  # what a process killed with kill -9 leaves behind
        session.execute(update(AudienceStateRow).values(locked_by="dead", locked_at=ctx.now()))
    with audience_lock(ctx, "main"):
        pass
    ctx.engine.dispose()
