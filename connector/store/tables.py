"""The consent store's tables (SQLModel). Schema changes go through Alembic migrations only.

Table names are plural snake_case; every ``*_at`` column is timezone-aware UTC; constraint names come
from the naming convention on the shared metadata so that migrations match on SQLite and PostgreSQL.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Column, ForeignKey, Index, MetaData, Numeric, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from connector.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _at(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _contact_fk() -> Column[str]:
    return Column(String(36), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True)


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"

    id: str = Field(primary_key=True, max_length=36)
    external_id: str | None = Field(default=None, max_length=200, index=True)
    email: str | None = Field(default=None, max_length=320, unique=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=16)
    jurisdiction: str | None = Field(default=None, max_length=8)
    processing_restricted: bool = False
    created_at: datetime = Field(sa_column=_at())
    updated_at: datetime = Field(sa_column=_at())
    changed_at: datetime = Field(sa_column=_at(index=True))
    next_review_at: datetime | None = Field(default=None, sa_column=_at(nullable=True, index=True))


class ConsentEventRow(SQLModel, table=True):
    __tablename__ = "consent_events"

    id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(sa_column=_contact_fk())
    purpose: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    action: str = Field(max_length=16)
    occurred_at: datetime = Field(sa_column=_at())
    recorded_at: datetime = Field(sa_column=_at())
    method: str = Field(max_length=32)
    source: str = Field(max_length=200)
    notice_version: str | None = Field(default=None, max_length=100)
    active_act: bool = False
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    double_opt_in_requested_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    recorded_by: str = Field(max_length=16)
    source_ref: str | None = Field(default=None, max_length=300)


class RelationshipRow(SQLModel, table=True):
    __tablename__ = "relationships"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "reference"),)

    id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(sa_column=_contact_fk())
    kind: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=200)
    item: str | None = Field(default=None, max_length=200, index=True)
    """What it concerns (a concert, a departure, a product): what a notice targets."""
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(sa_column=_at())
    service_date: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    opt_out_offered: bool = False
    order_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    source: str = Field(max_length=200)
    recorded_at: datetime = Field(sa_column=_at())


class ObjectionRow(SQLModel, table=True):
    __tablename__ = "objections"

    id: str = Field(primary_key=True, max_length=36)
    contact_id: str = Field(sa_column=_contact_fk())
    occurred_at: datetime = Field(sa_column=_at())
    recorded_at: datetime = Field(sa_column=_at())
    purpose: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=300)
    source: str = Field(max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    """Evidence of an objection the person made in a browser (the privacy page): never logged."""
    user_agent: str | None = Field(default=None, max_length=300)


class SuppressionRow(SQLModel, table=True):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("address_hash", "reason"),)

    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_at())
    source: str = Field(max_length=200)


class HistoryRow(SQLModel, table=True):
    """Append-only: every change, who made it, through what, and what changed (never raw PII)."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_contact_id_occurred_at", "contact_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: str | None = Field(default=None, max_length=36)
    occurred_at: datetime = Field(sa_column=_at())
    actor: str = Field(max_length=200)
    source: str = Field(max_length=200)
    action: str = Field(max_length=64)
    detail: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ErasureRow(SQLModel, table=True):
    """The PII-free tombstone of an erased contact (P7); Mailchimp's part is recorded here too."""

    __tablename__ = "erasures"

    contact_id: str = Field(primary_key=True, max_length=36)
    erased_at: datetime = Field(sa_column=_at())
    actor: str = Field(max_length=200)
    source: str = Field(max_length=200)
    mailchimp_subscriber_hash: str | None = Field(default=None, max_length=32)
    mailchimp_done_at: datetime | None = Field(default=None, sa_column=_at(nullable=True))
    mailchimp_outcome: str | None = Field(default=None, max_length=64)
