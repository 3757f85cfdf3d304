"""``consent-sync db upgrade``: the store's schema, through Alembic migrations."""

import typer

from connector.cli import shell

db_app = shell.group("Database schema.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (SQLite or PostgreSQL, per database.url)."""
    from connector.store.migrate import upgrade

    settings = shell.settings()
    shell.run(lambda: upgrade(settings.database.url))
    typer.echo("database is at the latest schema")
