"""Tables of the HTTP service: the webhook inbox, per-audience sync requests, admin audit and run requests.

``webhook_inbox`` holds every accepted Mailchimp event, written in the same transaction as its effect;
its unique ``dedup_key`` is what makes a replayed delivery a no-op. ``sync_requests`` is read by the
daemon: a row means "sync this audience soon" (webhooks and admin calls set it).
"""

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from connector.store.tables import _at

ERASED_BODY = "[erased]"
"""What a stored webhook body becomes once the person it names is erased (P7)."""


class WebhookInboxRow(SQLModel, table=True):
    """One Mailchimp webhook event as received (raw body), and whether its effect was applied."""

    __tablename__ = "webhook_inbox"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=64, unique=True)
    type: str = Field(max_length=16)
    list_id: str | None = Field(default=None, max_length=64)
    fired_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    received_at: datetime = Field(sa_column=_at(index=True))
    processed: bool = False
    outcome: str = Field(default="", max_length=32)
    body: str = Field(sa_column=Column(Text, nullable=False))


class SyncRequestRow(SQLModel, table=True):
    """An audience that should be synced promptly (the daemon deletes the row when it runs)."""

    __tablename__ = "sync_requests"

    audience: str = Field(primary_key=True, max_length=64)
    requested_at: datetime = Field(sa_column=_at())


class AdminAuditRow(SQLModel, table=True):
    """One admin API call: who, which endpoint (the route template, never a raw address), the answer."""

    __tablename__ = "admin_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_at(index=True))
    actor: str = Field(max_length=100)
    scope: str = Field(max_length=8)
    method: str = Field(max_length=8)
    route: str = Field(max_length=200)
    status: int


class AdminRunRow(SQLModel, table=True):
    """A sync requested through ``POST /admin/sync``: queued, then run in the background."""

    __tablename__ = "admin_runs"

    id: str = Field(primary_key=True, max_length=36)
    audience: str = Field(max_length=64)
    contact: str | None = Field(default=None, max_length=320)
    full: bool = False
    allow_destructive: bool = False
    actor: str = Field(max_length=100)
    status: str = Field(max_length=16)
    requested_at: datetime = Field(sa_column=_at(index=True))
    finished_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    sync_run_id: str | None = Field(default=None, max_length=36)
    error: str | None = Field(default=None, max_length=500)
