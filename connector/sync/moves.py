"""``consent-sync audience move``: acknowledge that an audience now lives in another Mailchimp list.

The old list's state (segment ids, watermarks) is filed in ``audience_moves`` and its mirror rows stay
as history; the audience starts afresh on the new list: no segment ids, no watermarks, no unfinished run,
so the next sync is an initial one (every contact new there) and the next reconcile a complete read of
the new list, compared with the new list's own (empty) mirror. Nobody's absence from the new list is
read as a deletion, and people who opted out of the old list are not subscribed to the new one.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col

from connector.errors import InputError
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceMoveRow, AudienceStateRow, SyncRunRow
from connector.sync.binding import data_centre
from connector.sync.lock import audience_lock


@dataclass(frozen=True, slots=True)
class MoveReport:
    audience: str
    from_list_id: str | None
    to_list_id: str
    abandoned_runs: int


def move_audience(ctx: AppContext, name: str, to: str) -> MoveReport:
    """Bind ``name`` to list ``to``; ``InputError`` if the configuration names another list."""
    audience = ctx.settings.audience(name)
    to = to.strip()
    if not to:
        raise InputError("--to", "must be the new Mailchimp list id")
    if audience.list_id and audience.list_id != to:
        raise InputError(
            "--to",
            f"audiences.{name}.list_id is {audience.list_id}, not {to}: set it in the configuration first",
        )
    dc = data_centre(ctx.settings.mailchimp)
    with audience_lock(ctx, name), unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, name) or AudienceStateRow(audience=name)
        if state.list_id == to and state.dc in (None, dc):
            raise InputError("--to", f"audience {name} is already bound to list {to}")
        session.add(
            AudienceMoveRow(
                id=str(uuid.uuid4()),
                audience=name,
                from_list_id=state.list_id,
                from_dc=state.dc,
                to_list_id=to,
                to_dc=dc,
                moved_at=ctx.now(),
                segment_ids=dict(state.segment_ids),
                last_sync_at=state.last_sync_at,
                last_reconcile_at=state.last_reconcile_at,
            )
        )
        previous = state.list_id
        state.list_id, state.dc, state.segment_ids = to, dc, {}
        state.last_sync_at = state.last_reconcile_at = None
        state.inbound_hold = None
        session.add(state)
        result = session.execute(
            update(SyncRunRow)
            .where(col(SyncRunRow.audience) == name, col(SyncRunRow.status) == "applying")
            .values(status="abandoned", finished_at=ctx.now())
        )
    return MoveReport(name, previous, to, int(getattr(result, "rowcount", 0) or 0))
