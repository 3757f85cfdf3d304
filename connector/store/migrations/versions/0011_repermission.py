"""repermission: re-permission campaigns and the contacts each one asked

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = connector.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "repermission_campaigns",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("notice_version", sa.String(length=100), nullable=False),
        sa.Column("expires_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", _AT, nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repermission_campaigns")),
    )
    op.create_table(
        "repermission_members",
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued_at", _AT, nullable=False),
        sa.Column("asked_at", _AT, nullable=True),
        sa.Column("deadline_at", _AT, nullable=True),
        sa.Column("done_at", _AT, nullable=True),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["repermission_campaigns.id"],
            name=op.f("fk_repermission_members_campaign_id_repermission_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_repermission_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "contact_id", name=op.f("pk_repermission_members")),
    )
    with op.batch_alter_table("repermission_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repermission_members_contact_id_state", ["contact_id", "state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repermission_members_deadline_at"), ["deadline_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("repermission_members")
    op.drop_table("repermission_campaigns")
