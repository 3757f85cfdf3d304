"""http_service: webhook inbox, sync requests, admin audit and admin run requests

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, connector.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        _at("fired_at", nullable=True),
        _at("received_at"),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_webhook_inbox_dedup_key")),
    )
    op.create_index(op.f("ix_webhook_inbox_received_at"), "webhook_inbox", ["received_at"])
    op.create_table(
        "sync_requests",
        sa.Column("audience", sa.String(length=64), nullable=False),
        _at("requested_at"),
        sa.PrimaryKeyConstraint("audience", name=op.f("pk_sync_requests")),
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
    )
    op.create_index(op.f("ix_admin_audit_at"), "admin_audit", ["at"])
    op.create_table(
        "admin_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("allow_destructive", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("requested_at"),
        _at("finished_at", nullable=True),
        sa.Column("sync_run_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_runs")),
    )
    op.create_index(op.f("ix_admin_runs_requested_at"), "admin_runs", ["requested_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_admin_runs_requested_at"), table_name="admin_runs")
    op.drop_table("admin_runs")
    op.drop_index(op.f("ix_admin_audit_at"), table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_table("sync_requests")
    op.drop_index(op.f("ix_webhook_inbox_received_at"), table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
