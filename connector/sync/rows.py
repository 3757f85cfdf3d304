"""Pieces both ways of planning a run share: a contact's profile, the status a batch subscribe sends, and
the statement writing review times."""

from sqlalchemy import bindparam, update
from sqlalchemy.sql.dml import Update

from connector.core.desired import ContactProfile
from connector.core.plan import UpsertMember
from connector.core.remote import MemberStatus, RemoteMember, normalise_email
from connector.services.preference_links import PREFS_FIELD, LinkMaker
from connector.settings import AudienceSettings
from connector.store.tables import ContactRow


def profile(row: ContactRow, audience: AudienceSettings, links: LinkMaker | None = None) -> ContactProfile:
    """The contact as the desired state needs it; ``links`` adds the privacy page link (``PREFS_URL``)."""
    fields = {name: getattr(row, name, None) for name in audience.merge_fields.values()}
    if links is not None:
        fields[PREFS_FIELD] = links(row.id)
    return ContactProfile(row.id, normalise_email(row.email or ""), fields)


def send_status(op: object, have: RemoteMember | None) -> MemberStatus | None:
    """Batch subscribe needs a status: the wanted one, else the member's current one, else the new one."""
    if not isinstance(op, UpsertMember):
        return None
    if op.status is not None:
        return op.status
    if have is not None and have.is_present:
        return have.status
    return op.status_if_new


def _review_update() -> Update:
    table = ContactRow.metadata.tables[ContactRow.__tablename__]
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(next_review_at=bindparam("next_review_at"))
    )


REVIEW_UPDATE = _review_update()
"""Core executemany by primary key: ``b_id`` and ``next_review_at`` per row."""
