"""A PostgreSQL database emptied for a test run or a benchmark (no pytest here: the benchmarks use it too)."""

from sqlalchemy import create_engine, make_url, text


def reset_postgres(url: str) -> None:
    """Empty the database at ``url`` (drop and recreate its ``public`` schema), creating it if missing."""
    _create_if_missing(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _create_if_missing(url: str) -> None:
    """``CREATE DATABASE`` (through the server's ``postgres`` database) if ``url``'s is missing."""
    target = make_url(url)
    name = target.database
    if not name:
        return
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists is None:
            quoted = connection.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    engine.dispose()
