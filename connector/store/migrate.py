"""Alembic, driven from code: ``consent-sync db upgrade`` and the readiness check use this."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from connector.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(str(engine.url))


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
    head = head_revision(engine.url.render_as_string(hide_password=False))
    if current is None:
        raise ConfigError(NOT_INITIALISED)
    if current != head:
        raise ConfigError(
            f"database is at revision {current}, the code needs {head}: run `consent-sync db upgrade`"
        )
