"""The sync engine's tables: the Mailchimp mirror, runs, their persisted plans, and per-audience state.

The persisted plan (``plan_operations``) is what makes a crashed run resumable: every operation is
written before anything is sent, and marked ``done`` or ``rejected`` in the same transaction that
updates the mirror for it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, text
from sqlmodel import Field, SQLModel

from connector.store.tables import _at


class MirrorMemberRow(SQLModel, table=True):
    """One member of one Mailchimp list as Mailchimp last confirmed it.

    Keyed by the list, not by the audience's name: pointing an audience at another list starts another
    mirror, and the old list's rows stay as history (``audience`` says which audience synced them).
    """

    __tablename__ = "mirror_members"

    list_id: str = Field(primary_key=True, max_length=64)
    subscriber_hash: str = Field(primary_key=True, max_length=32)
    audience: str = Field(default="", max_length=64, index=True)
    contact_id: str | None = Field(default=None, max_length=36, index=True)
    email: str = Field(default="", max_length=320)
    status: str = Field(max_length=16)
    merge_fields: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    interests: dict[str, bool] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )
    last_changed: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    managed: bool = False
    forgotten: bool = False
    confirmed_at: datetime = Field(sa_column=_at())


class SyncRunRow(SQLModel, table=True):
    """One plan, sync or reconcile run of one audience."""

    __tablename__ = "sync_runs"

    id: str = Field(primary_key=True, max_length=36)
    audience: str = Field(max_length=64, index=True)
    list_id: str | None = Field(default=None, max_length=64)
    """The Mailchimp list the run read or wrote (``None`` for runs before lists were recorded)."""
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16)
    started_at: datetime = Field(sa_column=_at())
    finished_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    calls: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    watermark: datetime | None = Field(default=None, sa_column=_at(nullable=True))


class PlanOperationRow(SQLModel, table=True):
    """One persisted operation of a run's plan; ``state`` is ``pending``, ``done`` or ``rejected``."""

    __tablename__ = "plan_operations"

    run_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False, nullable=False))
    kind: str = Field(max_length=32)
    subscriber_hash: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=16)
    outcome: str | None = Field(default=None, max_length=300)


class AudienceStateRow(SQLModel, table=True):
    """The Mailchimp list an audience is bound to, that list's ids and watermarks, and the run lock.

    ``segment_ids``, ``last_sync_at`` and ``last_reconcile_at`` belong to ``list_id`` (in ``dc``, the
    account's data centre): ``consent-sync audience move`` files them under ``audience_moves`` and starts
    the new list afresh. ``inbound_hold`` is the reconcile the inbound guard held back, if any.
    """

    __tablename__ = "audience_state"

    audience: str = Field(primary_key=True, max_length=64)
    list_id: str | None = Field(default=None, max_length=64)
    dc: str | None = Field(default=None, max_length=64)
    inbound_hold: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    segment_ids: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_sync_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    last_reconcile_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    locked_by: str | None = Field(default=None, max_length=36)
    locked_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))


class AudienceMoveRow(SQLModel, table=True):
    """An acknowledged move of an audience to another Mailchimp list, with the old list's state."""

    __tablename__ = "audience_moves"

    id: str = Field(primary_key=True, max_length=36)
    audience: str = Field(max_length=64, index=True)
    from_list_id: str | None = Field(default=None, max_length=64)
    from_dc: str | None = Field(default=None, max_length=64)
    to_list_id: str = Field(max_length=64)
    to_dc: str | None = Field(default=None, max_length=64)
    moved_at: datetime = Field(sa_column=_at())
    segment_ids: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_sync_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    last_reconcile_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))


class WebhookRegistrationRow(SQLModel, table=True):
    """A webhook consent-sync registered on a Mailchimp list."""

    __tablename__ = "webhook_registrations"

    list_id: str = Field(primary_key=True, max_length=64)
    webhook_id: str = Field(primary_key=True, max_length=64)
    dc: str | None = Field(default=None, max_length=64)
    audience: str = Field(max_length=64)
    url_hash: str = Field(max_length=64)
    """SHA-256 of the URL (it carries the webhook secret)."""
    registered_at: datetime = Field(sa_column=_at())
