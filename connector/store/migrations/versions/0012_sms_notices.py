"""sms notices: a notice's delivery is per (notice, contact, channel); an SMS delivery keeps its number
and the key of the text it shares with the other numbers of its call

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_deliveries") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=8), nullable=False, server_default=sa.text("'email'"))
        )
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("sms_group", sa.String(length=16), nullable=True))
        batch.drop_constraint("pk_notice_deliveries", type_="primary")
        batch.create_primary_key("pk_notice_deliveries", ["notice_id", "contact_id", "channel"])


def downgrade() -> None:
    op.execute("DELETE FROM notice_deliveries WHERE channel <> 'email'")
    with op.batch_alter_table("notice_deliveries") as batch:
        batch.drop_constraint("pk_notice_deliveries", type_="primary")
        batch.create_primary_key("pk_notice_deliveries", ["notice_id", "contact_id"])
        batch.drop_column("sms_group")
        batch.drop_column("phone")
        batch.drop_column("channel")
