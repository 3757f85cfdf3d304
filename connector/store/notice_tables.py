"""Transactional notices: the notice (an immutable value, keyed by its idempotency key) and one delivery
row per recipient.

A delivery row is written when the notice is planned for sending (``pending``), claimed in a batch just
before its call (``claimed``, with the batch's id), and marked ``done`` with Transactional's answer in
the same transaction that records it. After a crash, only ``claimed`` rows may be sent again.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from connector.store.tables import _at


class NoticeRow(SQLModel, table=True):
    __tablename__ = "notices"

    id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=32)
    audience: str = Field(max_length=64)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The notice as planned (target, template, sender): never changed once recorded."""
    status: str = Field(max_length=16)
    """``planned``, ``sending`` (a send started and did not finish) or ``sent``."""
    created_at: datetime = Field(sa_column=_at())
    actor: str = Field(max_length=200)
    send_started_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The last plan's or send's summary: counts, calls, who was left out and why."""


class NoticeDeliveryRow(SQLModel, table=True):
    """One recipient of one notice by one channel: sent at most once (``(notice_id, contact_id,
    channel)`` is the key)."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        Index("ix_notice_deliveries_notice_id_state", "notice_id", "state"),
        Index("ix_notice_deliveries_reject_reason_channel", "reject_reason", "channel"),
    )

    notice_id: str = Field(
        sa_column=Column(
            String(100), ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    contact_id: str = Field(primary_key=True, max_length=36)
    channel: str = Field(default="email", primary_key=True, max_length=8)
    """``email`` or ``sms``."""
    seq: int = 0
    route: str = Field(max_length=16)
    why: str = Field(default="", max_length=500)
    email: str = Field(default="", max_length=320)
    merge_vars: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=16)
    """``pending``, ``claimed`` (in a call that may not have been answered), ``done`` or ``skipped``."""
    batch_id: str | None = Field(default=None, max_length=36)
    claimed_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    status: str | None = Field(default=None, max_length=16)
    """Transactional's answer (sent, queued, scheduled, rejected, invalid), later ``bounced`` or
    ``complained`` from its webhooks; ``triggered`` for the journey route."""
    reject_reason: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(default=None, max_length=64, index=True)
    attempts: int = 0
    phone: str | None = Field(default=None, max_length=32)
    """An SMS delivery's number (E.164)."""
    sms_group: str | None = Field(default=None, max_length=16)
    """An SMS delivery's text key: the numbers of one ``send-sms`` call share one text."""
