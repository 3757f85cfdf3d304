"""A PostgreSQL database emptied for a test run or a benchmark (no pytest here: the benchmarks use it too)."""

from sqlalchemy import create_engine, text


def reset_postgres(url: str) -> None:
    """Drop and recreate the ``public`` schema of the database at ``url``: everything in it is gone."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
