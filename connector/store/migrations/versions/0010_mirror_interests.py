"""mirror interests: the Mailchimp interests (group check boxes) a member carries, as last confirmed

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mirror_members") as batch:
        batch.add_column(sa.Column("interests", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("mirror_members") as batch:
        batch.drop_column("interests")
