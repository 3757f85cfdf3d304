"""The record of applied imports: one row per file, so that applying the same file again changes nothing."""

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from connector.store.types import UTCDateTime


class ImportRecordRow(SQLModel, table=True):
    """An applied import file: its SHA-256, who attested it (``--source``), what it changed, and when."""

    __tablename__ = "imports"

    id: str = Field(primary_key=True, max_length=36)
    file_sha256: str = Field(max_length=64, index=True)
    file_name: str = Field(max_length=500)
    source: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=200)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    applied_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
