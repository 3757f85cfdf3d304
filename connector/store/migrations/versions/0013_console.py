"""console: console users (roles, argon2 hashes) and the campaign guard's last check per audience

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = connector.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("last_login_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_users")),
    )
    op.create_table(
        "campaign_checks",
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("checked_at", _AT, nullable=False),
        sa.Column("campaigns", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("audience", name=op.f("pk_campaign_checks")),
    )


def downgrade() -> None:
    op.drop_table("campaign_checks")
    op.drop_table("console_users")
