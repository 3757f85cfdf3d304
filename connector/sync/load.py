"""Gather a run's inputs from the store: the contacts to look at, their facts, erasures, the mirror."""

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from connector.core.model import ContactFacts
from connector.core.plan import Erasure
from connector.core.remote import (
    MemberStatus,
    RemoteMember,
    merge_fields_of,
    normalise_email,
    subscriber_hash,
)
from connector.errors import NotFoundError
from connector.settings import Settings
from connector.store.facts import load_facts
from connector.store.raw import Raw
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.store.tables import ContactRow
from connector.store.types import UTCDateTime
from connector.sync.binding import bound_list_id
from connector.sync.erasures import pending_erasures

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RunInputs:
    contacts: Sequence[ContactRow]
    facts: dict[str, ContactFacts]
    mirror: dict[str, RemoteMember]
    managed: frozenset[str]
    erasures: tuple[Erasure, ...]
    watermark: datetime
    """The moment the contacts were selected at; the next run looks at changes from here on."""
    audience_size: int = 0
    """Members present on the audience per the whole mirror (``mirror`` may hold only some rows)."""
    list_id: str | None = None
    """The Mailchimp list the mirror is of (``None`` before the audience's first sync)."""
    opted_out_before: frozenset[str] = frozenset()
    """Members unsubscribed, cleaned or deleted in a list the audience was bound to before a move."""


def load_inputs(
    session: Session,
    settings: Settings,
    audience: str,
    key: bytes,
    now: datetime,
    *,
    full: bool,
    email: str | None,
) -> RunInputs:
    """The contacts to look at, their facts, and the mirror rows they (and pending erasures) touch.

    A full run reads the whole mirror; an incremental one only the rows of its contacts and erasures,
    so its cost follows the number of changes, not the size of the audience.
    """
    overlap = timedelta(seconds=settings.sync.change_overlap_seconds)
    contacts = load_changed_contacts(session, audience, now, full=full, email=email, overlap=overlap)
    erasures = () if email is not None else pending_erasures(session, audience, settings)
    keys = None if full else [subscriber_hash(c.email or "") for c in contacts]
    list_id = bound_list_id(session, audience)
    rows = load_mirror(
        session, list_id or "", None if keys is None else keys + [e.subscriber_hash for e in erasures]
    )
    return RunInputs(
        contacts=contacts,
        facts=load_facts(session, contacts, key),
        mirror={r.subscriber_hash: remote_member(r) for r in rows},
        managed=frozenset(r.subscriber_hash for r in rows if r.managed),
        erasures=erasures,
        watermark=now,
        audience_size=present_members(session, list_id or ""),
        list_id=list_id,
        opted_out_before=opted_out_in_earlier_lists(session, audience, list_id, keys),
    )


def load_mirror(session: Session, list_id: str, keys: Sequence[str] | None) -> list[MirrorMemberRow]:
    """The list's mirror rows: all of them, or those of ``keys`` (read 500 at a time)."""
    query = select(MirrorMemberRow).where(col(MirrorMemberRow.list_id) == list_id)
    if keys is None:
        return list(session.execute(query).scalars())
    wanted = sorted(set(keys))
    rows: list[MirrorMemberRow] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows += session.execute(query.where(col(MirrorMemberRow.subscriber_hash).in_(chunk))).scalars()
    return rows


class MirrorValues(NamedTuple):
    """A mirror row as :func:`remote_member` and the planner read it, read on the raw cursor."""

    subscriber_hash: str
    email: str
    status: str
    merge_fields: dict[str, str]
    tags: list[str]
    interests: dict[str, bool]
    last_changed: datetime | None
    forgotten: bool
    managed: bool


_MIRROR_OF_KEYS = (
    "SELECT subscriber_hash, email, status, merge_fields, tags, interests, last_changed, forgotten, "
    "managed FROM mirror_members WHERE list_id = {m} AND subscriber_hash IN ({in})"
)


def load_mirror_of(session: Session, list_id: str, keys: Sequence[str]) -> list[MirrorValues]:
    """``load_mirror`` for some keys, on the raw cursor: plain values, no ORM instances."""
    raw = Raw(session)
    loaded, moment = raw.loaded, raw.moment
    return [
        MirrorValues(
            key,
            email,
            status,
            loaded(merge),
            loaded(tags),
            loaded(interests),
            moment(changed),
            bool(forgotten),
            bool(managed),
        )
        for key, email, status, merge, tags, interests, changed, forgotten, managed in raw.rows_in(
            _MIRROR_OF_KEYS, (list_id,), sorted(set(keys))
        )
    ]


def present_members(session: Session, list_id: str) -> int:
    """Members on the list as contacts (neither archived nor deleted): the safety guards' base."""
    query = select(func.count()).where(
        col(MirrorMemberRow.list_id) == list_id,
        col(MirrorMemberRow.forgotten).is_(False),
        col(MirrorMemberRow.status) != MemberStatus.ARCHIVED.value,
    )
    return int(session.execute(query).scalar_one())


def opted_out_in_earlier_lists(
    session: Session, audience: str, list_id: str | None, keys: Sequence[str] | None
) -> frozenset[str]:
    """Members of ``keys`` (all with ``None``) who opted out of, bounced from or were deleted in a list
    ``audience`` was bound to before its current one: a move never subscribes them to the new list."""
    row = MirrorMemberRow
    opted_out = or_(col(row.status).in_(_OPTED_OUT), col(row.forgotten).is_(True))
    query = select(col(row.subscriber_hash)).where(
        col(row.audience) == audience, col(row.list_id) != (list_id or ""), opted_out
    )
    if keys is None:
        return frozenset(session.execute(query).scalars())
    raw = Raw(session)
    params = (audience, list_id or "", *_OPTED_OUT)
    return frozenset(key for (key,) in raw.rows_in(_OPTED_OUT_OF_KEYS, params, sorted(set(keys))))


_OPTED_OUT = (MemberStatus.UNSUBSCRIBED.value, MemberStatus.CLEANED.value)
_OPTED_OUT_OF_KEYS = (
    "SELECT subscriber_hash FROM mirror_members WHERE audience = {m} AND list_id <> {m} "
    "AND (status IN ({m}, {m}) OR forgotten) AND subscriber_hash IN ({in})"
)


def load_changed_contacts(
    session: Session,
    audience: str,
    now: datetime,
    *,
    full: bool,
    email: str | None,
    overlap: timedelta = timedelta(0),
    after: str | None = None,
    limit: int | None = None,
    plain: bool = False,
) -> list[ContactRow]:
    """One contact by address; all with ``full``; else marked since the watermark (less ``overlap``, for
    transactions that committed after the last run read the store) or due for review.

    ``after`` and ``limit``: the next ``limit`` of them by id after ``after`` (a streamed run's chunk).
    ``plain``: read-only rows with the same attributes (named tuples read on the raw cursor,
    ``connector/store/raw.py``), no ORM instances."""
    since: datetime | None = None
    if email is None and not full:
        state = session.get(AudienceStateRow, audience)
        since = state.last_sync_at if state is not None else None
    if plain:
        found = _plain_contacts(session, now, email, since, overlap, after, limit)
    else:
        query = select(ContactRow).where(col(ContactRow.email).is_not(None))
        if email is not None:
            query = query.where(col(ContactRow.email) == normalise_email(email))
        elif since is not None:
            due = col(ContactRow.next_review_at) <= now
            query = query.where(or_(col(ContactRow.changed_at) >= since - overlap, due))
        if after is not None:
            query = query.where(col(ContactRow.id) > after)
        query = query.order_by(col(ContactRow.id))
        if limit is not None:
            query = query.limit(limit)
        found = list(session.execute(query).scalars())
    if email is not None and not found:
        raise NotFoundError("--contact", "no contact with that e-mail address")
    return found


_CONTACT_TABLE = ContactRow.__table__  # type: ignore[attr-defined]
_CONTACT_COLUMNS = tuple(c.name for c in _CONTACT_TABLE.columns)
_CONTACT_MOMENTS = frozenset(
    i for i, c in enumerate(_CONTACT_TABLE.columns) if isinstance(c.type, UTCDateTime)
)
_PlainContact = namedtuple("_PlainContact", _CONTACT_COLUMNS)  # type: ignore[misc]


def _plain_contacts(
    session: Session,
    now: datetime,
    email: str | None,
    since: datetime | None,
    overlap: timedelta,
    after: str | None,
    limit: int | None,
) -> list[ContactRow]:
    """``load_changed_contacts`` on the raw cursor: the same query, each value converted once."""
    raw = Raw(session)
    where, params = ["email IS NOT NULL"], list[Any]()
    if email is not None:
        where.append("email = {m}")
        params.append(normalise_email(email))
    elif since is not None:
        where.append("(changed_at >= {m} OR next_review_at <= {m})")
        params += [raw.at(since - overlap), raw.at(now)]
    if after is not None:
        where.append("id > {m}")
        params.append(after)
    sql = _CONTACTS_SELECT + " AND ".join(where) + " ORDER BY id"
    if limit is not None:
        sql += " LIMIT {m}"
        params.append(limit)
    moments, restricted = _CONTACT_MOMENTS, _CONTACT_COLUMNS.index("processing_restricted")
    found: list[Any] = []
    for row in raw.rows(sql, params):
        values = [raw.moment(v) if i in moments else v for i, v in enumerate(row)]
        values[restricted] = bool(values[restricted])
        found.append(_PlainContact(*values))
    return found


_CONTACTS_SELECT = f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts WHERE "  # noqa: S608 (column names)


def remote_member(row: MirrorMemberRow | MirrorValues) -> RemoteMember:
    return RemoteMember(
        subscriber_hash=row.subscriber_hash,
        email=row.email,
        status=MemberStatus(row.status),
        merge_fields=merge_fields_of(row.merge_fields),
        tags=frozenset(row.tags),
        interests=tuple(sorted(row.interests.items())),
        last_changed=row.last_changed or EPOCH,
        forgotten=row.forgotten,
    )
