"""Tables of the console: its users, and the campaign guard's last check of each audience.

``console_users`` holds people who sign in to ``/console`` (an argon2 hash, never a password).
``campaign_checks`` holds, per audience, the last campaign guard check: when, how many campaigns it read,
and each finding (campaign id, title, status, whether it is safe, the reason in words).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from connector.store.tables import _at


class ConsoleUserRow(SQLModel, table=True):
    __tablename__ = "console_users"

    name: str = Field(primary_key=True, max_length=100)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=300)
    disabled: bool = False
    created_at: datetime = Field(sa_column=_at())
    last_login_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))


class CampaignCheckRow(SQLModel, table=True):
    __tablename__ = "campaign_checks"

    audience: str = Field(primary_key=True, max_length=64)
    checked_at: datetime = Field(sa_column=_at())
    campaigns: int = 0
    flagged: int = 0
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
