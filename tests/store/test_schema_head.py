"""The schema check's cheap constant is the head Alembic reads from the migrations."""

from pathlib import Path

from connector.store.engine import make_engine
from connector.store.migrate import HEAD_REVISION, current_revision, head_revision, is_at_head, upgrade


def test_head_revision_constant_is_the_migrations_head() -> None:
    assert head_revision("sqlite://") == HEAD_REVISION, "set HEAD_REVISION in connector/store/migrate.py"


def test_current_revision_reads_what_alembic_wrote(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    assert current_revision(engine) is None
    upgrade(url, "0008")
    assert current_revision(engine) == "0008"
    assert not is_at_head(engine)
    upgrade(url)
    assert is_at_head(engine)
    engine.dispose()
