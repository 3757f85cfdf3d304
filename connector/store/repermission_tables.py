"""Re-permission campaigns: the campaign (keyed by its id) and one row per contact it asked.

A member row is written ``queued`` before its Mailchimp call and becomes ``asked`` (set ``pending``
there, its confirmation e-mail sent by Mailchimp), ``refused`` (Mailchimp refused the member), then
``confirmed`` (a fresh consent was recorded), ``expired`` (the stale consent ended, "not re-confirmed"),
or ``closed`` (a newer consent or a withdrawal made the question moot). ``(campaign_id, contact_id)`` is
the key: a campaign asks nobody twice. No address is kept here; an erased contact's rows go with it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from connector.store.tables import _at

OPEN_STATES = ("queued", "asked")


class RepermissionCampaignRow(SQLModel, table=True):
    __tablename__ = "repermission_campaigns"

    id: str = Field(primary_key=True, max_length=100)
    audience: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    notice_version: str = Field(max_length=100)
    expires_days: int
    status: str = Field(max_length=16)
    """``planned``, ``sending`` (a send started and did not finish) or ``sent``."""
    created_at: datetime = Field(sa_column=_at())
    actor: str = Field(max_length=200)
    list_id: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The last plan's and send's summaries (counts, contact ids left out and why; no addresses)."""


class RepermissionMemberRow(SQLModel, table=True):
    __tablename__ = "repermission_members"
    __table_args__ = (Index("ix_repermission_members_contact_id_state", "contact_id", "state"),)

    campaign_id: str = Field(
        sa_column=Column(
            String(100),
            ForeignKey("repermission_campaigns.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    contact_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    reason: str = Field(max_length=16)
    grant_id: str = Field(max_length=36)
    """The stale consent event asked about: what ends without a confirmation."""
    state: str = Field(max_length=16)
    queued_at: datetime = Field(sa_column=_at())
    asked_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    deadline_at: datetime | None = Field(default=None, sa_column=_at(nullable=True, index=True))
    done_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    outcome: str | None = Field(default=None, max_length=300)
