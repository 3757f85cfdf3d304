"""Alembic, driven from code: ``consent-sync db upgrade`` and the readiness check use this.

Commands check the schema against :data:`HEAD_REVISION` with one query, without importing Alembic (a
quarter of a second of a one-contact command's start); ``tests/store/test_schema_head.py`` checks that the
constant is the head of the migrations.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from connector.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0015"
"""The latest migration's revision: change it with every new migration (a test says so)."""


def alembic_config(url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    """The head of the migrations as Alembic reads them (``HEAD_REVISION`` is its cheap copy)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``alembic_version``), ``None`` if it was never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(found[0]) if len(found) == 1 else None


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` when it does not exist yet (opening it would create it), else ``None``."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def require_initialised(url: str) -> None:
    """Refuse a SQLite store whose file does not exist, without creating it (``status`` writes nothing)."""
    if missing_sqlite_file(url) is not None:
        raise ConfigError(NOT_INITIALISED)


NOT_INITIALISED = "database is not initialised: run `consent-sync db upgrade`"


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that cannot be reached or is not migrated to the latest schema."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc).splitlines()[0]
        raise ConfigError(f"database.url: cannot open the database ({reason})") from None
    head = HEAD_REVISION
    if current is None:
        raise ConfigError(NOT_INITIALISED)
    if current != head:
        raise ConfigError(
            f"database is at revision {current}, the code needs {head}: run `consent-sync db upgrade`"
        )
