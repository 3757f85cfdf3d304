"""The sync engine's tables: the Mailchimp mirror, runs, their persisted plans, and per-audience state.

The persisted plan (``plan_operations``) is what makes a crashed run resumable: every operation is
written before anything is sent, and marked ``done`` or ``rejected`` in the same transaction that
updates the mirror for it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from connector.store.tables import _at


class MirrorMemberRow(SQLModel, table=True):
    """One audience member as Mailchimp last confirmed it."""

    __tablename__ = "mirror_members"

    audience: str = Field(primary_key=True, max_length=64)
    subscriber_hash: str = Field(primary_key=True, max_length=32)
    contact_id: str | None = Field(default=None, max_length=36, index=True)
    email: str = Field(default="", max_length=320)
    status: str = Field(max_length=16)
    merge_fields: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    last_changed: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    managed: bool = False
    forgotten: bool = False
    confirmed_at: datetime = Field(sa_column=_at())


class SyncRunRow(SQLModel, table=True):
    """One plan, sync or reconcile run of one audience."""

    __tablename__ = "sync_runs"

    id: str = Field(primary_key=True, max_length=36)
    audience: str = Field(max_length=64, index=True)
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
    """What consent-sync remembers per audience: ids in Mailchimp, watermarks, and the run lock."""

    __tablename__ = "audience_state"

    audience: str = Field(primary_key=True, max_length=64)
    list_id: str | None = Field(default=None, max_length=64)
    segment_ids: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_sync_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    last_reconcile_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    locked_by: str | None = Field(default=None, max_length=36)
    locked_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
