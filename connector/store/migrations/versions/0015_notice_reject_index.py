"""notice rejections by index: planning a notice asks which holders Transactional rejected for a reason it
keeps on its reject list; without an index that read went over every delivery ever recorded, a cost that
grew with every notice sent

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notice_deliveries_reject_reason_channel", "notice_deliveries", ["reject_reason", "channel"]
    )


def downgrade() -> None:
    op.drop_index("ix_notice_deliveries_reject_reason_channel", table_name="notice_deliveries")
