"""notices: relationships name their item; transactional notices and their per-recipient deliveries

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = connector.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_relationships_item"), ["item"], unique=False)
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("send_started_at", _AT, nullable=True),
        sa.Column("sent_at", _AT, nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_table(
        "notice_deliveries",
        sa.Column("notice_id", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("why", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("merge_vars", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("claimed_at", _AT, nullable=True),
        sa.Column("done_at", _AT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("reject_reason", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_deliveries_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notice_id", "contact_id", name=op.f("pk_notice_deliveries")),
    )
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_notice_deliveries_notice_id_state", ["notice_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_deliveries_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_table("notice_deliveries")
    op.drop_table("notices")
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relationships_item"))
        batch_op.drop_column("item")
