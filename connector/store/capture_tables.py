"""Tables of public consent capture: the rate-limit counters of sign-ups and confirmation mails.

One row per limited key (a keyed hash of a client IP or an e-mail address, never the value itself): the
start of its current window and the hits counted in it. Kept in the database so a limit holds across
``serve`` workers and restarts.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from connector.store.tables import _at


class CaptureLimitRow(SQLModel, table=True):
    """The hits of one limited key in its current fixed window."""

    __tablename__ = "capture_limits"

    key: str = Field(primary_key=True, max_length=80)
    window_started_at: datetime = Field(sa_column=_at(index=True))
    hits: int = 0
