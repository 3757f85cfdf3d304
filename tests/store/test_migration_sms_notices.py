"""Migration 0012: a notice delivery is per (notice, contact, channel); rows of e-mail notices recorded
before it keep their answers as channel ``email``."""

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from connector.services.context import AppContext
from connector.store.engine import make_engine
from connector.store.migrate import upgrade


def test_the_migration_creates_the_deliveries_as_declared(ctx: AppContext) -> None:
    with ctx.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in differences if "notice_deliveries" in repr(d)] == []


def test_deliveries_recorded_before_sms_become_email_ones_and_sms_adds_a_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url, "0010")
    engine = make_engine(url)
    now = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO notices (id, kind, audience, spec, status, created_at, actor, report) "
                "VALUES ('n1', 'cancellation', 'main', '{}', 'sent', :now, 'ops', '{}')"
            ),
            {"now": now},
        )
        db.execute(
            text(
                "INSERT INTO notice_deliveries (notice_id, contact_id, seq, route, why, email, merge_vars, "
                "state, status, attempts) VALUES ('n1', 'c1', 1, 'transactional', '', 'k@example.no', '{}', "
                "'done', 'sent', 1)"
            )
        )
    upgrade(url)
    with engine.begin() as db:
        assert db.execute(text("SELECT channel, status FROM notice_deliveries")).all() == [("email", "sent")]
        db.execute(
            text(
                "INSERT INTO notice_deliveries (notice_id, contact_id, channel, seq, route, why, email, "
                "merge_vars, state, attempts, phone) VALUES ('n1', 'c1', 'sms', 2, 'transactional', '', "
                "'k@example.no', '{}', 'pending', 0, '+4791234567')"
            )
        )
        assert db.execute(text("SELECT count(*) FROM notice_deliveries")).scalar_one() == 2
    engine.dispose()
