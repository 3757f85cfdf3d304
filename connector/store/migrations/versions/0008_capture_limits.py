"""capture limits: rate-limit counters of public sign-ups and confirmation mails

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capture_limits",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_started_at", connector.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_capture_limits")),
    )
    op.create_index(op.f("ix_capture_limits_window_started_at"), "capture_limits", ["window_started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_capture_limits_window_started_at"), table_name="capture_limits")
    op.drop_table("capture_limits")
