"""A migrated, empty database for every test, without running the migrations for every test.

Running every Alembic migration costs a test about half a second (more on a loaded machine), and the suite
has more than a thousand such tests. So the migrations run once per test process: SQLite tests get a copy
of a migrated template file (the ``sqlite3`` backup API), PostgreSQL tests the process's database with
every table emptied (``TRUNCATE … RESTART IDENTITY``). Before emptying, the schema is checked to be the one
the migrations made (same tables, at the head revision); a test that dropped, downgraded or replaced it
(the migration tests, the daemon's deployment fixture) makes the next test migrate afresh.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from connector.store.migrate import HEAD_REVISION, upgrade
from tests.postgres import reset_postgres

_TABLES = text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
_migrated: dict[str, tuple[str, ...]] = {}
"""The tables of each PostgreSQL database this process migrated, as the migrations left them."""


def copy_sqlite(template: Path, target: Path) -> None:
    """Copy the SQLite database ``template`` (a migrated, empty store) to ``target``."""
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)


def migrated_sqlite(path: Path) -> Path:
    """Migrate a new SQLite store at ``path`` (the template of this process's SQLite tests)."""
    upgrade(f"sqlite:///{path}")
    return path


def fresh_postgres(url: str) -> None:
    """Leave the PostgreSQL database at ``url`` migrated to the head and empty."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            tables = tuple(connection.execute(_TABLES).scalars())
            if tables and tables == _migrated.get(url) and _at_head(connection):
                names = ", ".join(f'"{t}"' for t in tables if t != "alembic_version")
                connection.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))
                return
    finally:
        engine.dispose()
    reset_postgres(url)
    upgrade(url)
    _migrated[url] = _tables(url)


def _at_head(connection: Connection) -> bool:
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(found) == [HEAD_REVISION]


def _tables(url: str) -> tuple[str, ...]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(connection.execute(_TABLES).scalars())
    finally:
        engine.dispose()
