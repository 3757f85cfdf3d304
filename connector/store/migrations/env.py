"""Alembic environment: runs migrations on the URL set in the programmatic config."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import connector.store.capture_tables  # public capture's rate limits (registered by import)
import connector.store.console_tables  # console users, campaign checks (registered by import)
import connector.store.http_tables  # HTTP service tables (registered on the metadata by import)
import connector.store.import_tables  # applied imports (registered on the metadata by import)
import connector.store.notice_tables  # transactional notices (registered on the metadata by import)
import connector.store.repermission_tables  # re-permission campaigns (registered on the metadata by import)
import connector.sync.erasures  # noqa: F401  (erasure_audiences)
from connector.store import sync_tables, tables  # noqa: F401  (registers every table on the metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
