"""erasure_audiences: each audience's part of an erasure, so that a tombstone closes only when all are done

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_audiences",
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("done_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["erasures.contact_id"],
            name=op.f("fk_erasure_audiences_contact_id_erasures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "audience", name=op.f("pk_erasure_audiences")),
    )


def downgrade() -> None:
    op.drop_table("erasure_audiences")
