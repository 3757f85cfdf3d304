"""mirror by list: mirror rows keyed by Mailchimp list id; list moves, data centre, inbound hold, webhooks

Existing mirror rows get the list id ``audience_state.list_id`` records for their audience (rows of an
audience without one are filed under ``unbound:<audience>``, which no list id can equal).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = connector.store.types.UTCDateTime(timezone=True)

_FILL_LIST_IDS = """
UPDATE mirror_members SET list_id = COALESCE(
    (SELECT s.list_id FROM audience_state s WHERE s.audience = mirror_members.audience),
    'unbound:' || mirror_members.audience
)
"""


def upgrade() -> None:
    with op.batch_alter_table("audience_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dc", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("inbound_hold", sa.JSON(), nullable=True))
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list_id", sa.String(length=64), nullable=True))
    op.add_column("mirror_members", sa.Column("list_id", sa.String(length=64), nullable=True))
    op.execute(_FILL_LIST_IDS)
    _rekey_mirror(("list_id", "subscriber_hash"))
    with op.batch_alter_table("mirror_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mirror_members_audience"), ["audience"], unique=False)
    op.create_table(
        "audience_moves",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("from_list_id", sa.String(length=64), nullable=True),
        sa.Column("from_dc", sa.String(length=64), nullable=True),
        sa.Column("to_list_id", sa.String(length=64), nullable=False),
        sa.Column("to_dc", sa.String(length=64), nullable=True),
        sa.Column("moved_at", _AT, nullable=False),
        sa.Column("segment_ids", sa.JSON(), nullable=False),
        sa.Column("last_sync_at", _AT, nullable=True),
        sa.Column("last_reconcile_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_moves")),
    )
    with op.batch_alter_table("audience_moves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audience_moves_audience"), ["audience"], unique=False)
    op.create_table(
        "webhook_registrations",
        sa.Column("list_id", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("dc", sa.String(length=64), nullable=True),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("list_id", "webhook_id", name=op.f("pk_webhook_registrations")),
    )


def downgrade() -> None:
    op.drop_table("webhook_registrations")
    with op.batch_alter_table("audience_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_moves_audience"))
    op.drop_table("audience_moves")
    with op.batch_alter_table("mirror_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mirror_members_audience"))
    # Rows of lists the audience is no longer bound to cannot keep their (audience, hash) key: drop them.
    op.execute(
        "DELETE FROM mirror_members WHERE list_id <> COALESCE((SELECT s.list_id FROM audience_state s "
        "WHERE s.audience = mirror_members.audience), 'unbound:' || mirror_members.audience)"
    )
    _rekey_mirror(("audience", "subscriber_hash"))
    with op.batch_alter_table("mirror_members", schema=None) as batch_op:
        batch_op.drop_column("list_id")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("list_id")
    with op.batch_alter_table("audience_state", schema=None) as batch_op:
        batch_op.drop_column("inbound_hold")
        batch_op.drop_column("dc")


def _rekey_mirror(columns: tuple[str, str]) -> None:
    """The mirror's primary key on ``columns`` (SQLite rebuilds the table; PostgreSQL swaps the key)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "mirror_members", schema=None, recreate="always" if sqlite else "auto"
    ) as batch:
        batch.alter_column("list_id", existing_type=sa.String(length=64), nullable=columns[0] != "list_id")
        if not sqlite:
            batch.drop_constraint("pk_mirror_members", type_="primary")
        batch.create_primary_key("pk_mirror_members", list(columns))
