"""The append-only history: every change, who made it, through what, and what changed.

Details name fields and record ids, never the values of personal data.
"""

from datetime import datetime

from sqlmodel import Session

from connector.services.context import Origin
from connector.store.tables import HistoryRow


def record_change(
    session: Session,
    *,
    contact_id: str | None,
    origin: Origin,
    action: str,
    at: datetime,
    **detail: object,
) -> None:
    session.add(
        HistoryRow(
            contact_id=contact_id,
            occurred_at=at,
            actor=origin.actor,
            source=origin.source,
            action=action,
            detail=dict(detail),
        )
    )
