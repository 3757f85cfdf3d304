"""Members of one Mailchimp list by status and by tag, counted by the database (one grouped scan).

Rows are grouped by status and by their whole tag list (few distinct combinations even on a large list);
the tag counts are summed from those groups, so no member row is loaded.
"""

import json
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, select
from sqlmodel import Session, col

from connector.store.sync_tables import MirrorMemberRow


@dataclass
class MirrorCounts:
    by_status: dict[str, int] = field(default_factory=dict)
    subscribed_by_tag: dict[str, int] = field(default_factory=dict)
    """Subscribed members carrying each tag (what a campaign to that tag's segment reaches)."""
    by_tag: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def mirror_counts(session: Session, list_id: str | None) -> MirrorCounts:
    counts = MirrorCounts()
    if list_id is None:
        return counts
    tags = cast(col(MirrorMemberRow.tags), String)
    query = (
        select(col(MirrorMemberRow.status), tags, func.count())
        .where(col(MirrorMemberRow.list_id) == list_id, col(MirrorMemberRow.forgotten).is_(False))
        .group_by(col(MirrorMemberRow.status), tags)
    )
    for status, tag_text, count in session.execute(query):
        counts.by_status[status] = counts.by_status.get(status, 0) + count
        for tag in _tags(tag_text):
            counts.by_tag[tag] = counts.by_tag.get(tag, 0) + count
            if status == "subscribed":
                counts.subscribed_by_tag[tag] = counts.subscribed_by_tag.get(tag, 0) + count
    return counts


def _tags(text: object) -> list[str]:
    try:
        value = json.loads(str(text)) if text else []
    except ValueError:
        return []
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []
