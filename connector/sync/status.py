"""What ``consent-sync status`` shows: last runs per audience and the contacts waiting for a sync."""

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import col

from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, SyncRunRow
from connector.store.tables import ContactRow
from connector.sync.binding import data_centre, describe_move


def status_document(ctx: AppContext, runs: int = 5) -> dict[str, Any]:
    now = ctx.now()
    overlap = timedelta(seconds=ctx.settings.sync.change_overlap_seconds)  # as load_changed_contacts
    audiences = []
    with unit_of_work(ctx.engine) as session:
        for audience in ctx.settings.audiences:
            state = session.get(AudienceStateRow, audience.name)
            since = state.last_sync_at if state is not None else None
            waiting = select(func.count()).select_from(ContactRow)
            if since is not None:
                waiting = waiting.where(
                    or_(col(ContactRow.changed_at) >= since - overlap, col(ContactRow.next_review_at) <= now)
                )
            query = select(SyncRunRow).where(col(SyncRunRow.audience) == audience.name)
            latest = session.execute(query.order_by(col(SyncRunRow.started_at).desc()).limit(runs)).scalars()
            bound, dc = (state.list_id, state.dc) if state is not None else (None, None)
            moved = describe_move(audience, bound, dc, data_centre(ctx.settings.mailchimp))
            hold = state.inbound_hold if state is not None else None
            audiences.append(
                {
                    "audience": audience.name,
                    "list_id": bound or audience.list_id,
                    "configured_list_id": audience.list_id,
                    "dc": dc,
                    "inbound_hold": hold,
                    "warnings": [w for w in (moved, _held(hold)) if w],
                    "last_sync_at": since.isoformat() if since else None,
                    "pending_contacts": session.execute(waiting).scalar_one(),
                    "runs": [
                        {
                            "id": r.id,
                            "kind": r.kind,
                            "status": r.status,
                            "started_at": r.started_at.isoformat(),
                            "counts": r.counts,
                            "calls": r.calls,
                            "error": (r.report or {}).get("error"),
                        }
                        for r in latest
                    ],
                }
            )
    return {"audiences": audiences}


def _held(hold: dict[str, Any] | None) -> str | None:
    if not hold:
        return None
    return f"{hold.get('message')} (held at {hold.get('at')})"
