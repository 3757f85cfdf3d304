"""Member calls: single-member reads and writes, tags, batch subscribe, bulk tag changes, paged reads.

A member Mailchimp refuses (400 compliance state, forgotten, fake address, invalid merge fields; 404 on
a write) is returned as a :class:`MemberOutcome`, never raised: it is data for the plan's outcome.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from connector.core.remote import subscriber_hash as mailchimp_subscriber_hash
from connector.mailchimp import codec
from connector.mailchimp.classify import Problem, problem_rejection_kind
from connector.mailchimp.paging import pages
from connector.mailchimp.payloads import (
    BatchSubscribeReport,
    BulkSegmentReport,
    MemberOutcome,
    MemberRecord,
    MemberStatus,
    MemberWrite,
    MergeValue,
)
from connector.mailchimp.transport import Endpoint, Reply, Transport

BATCH_LIMIT = 500

BATCH_SUBSCRIBE = Endpoint("POST", "/lists/{list_id}")
BULK_SEGMENT = Endpoint("POST", "/lists/{list_id}/segments/{segment_id}")
MEMBERS = Endpoint("GET", "/lists/{list_id}/members")
MEMBER = Endpoint("GET", "/lists/{list_id}/members/{subscriber_hash}")
UPSERT_MEMBER = Endpoint("PUT", "/lists/{list_id}/members/{subscriber_hash}")
PATCH_MEMBER = Endpoint("PATCH", "/lists/{list_id}/members/{subscriber_hash}")
ARCHIVE_MEMBER = Endpoint("DELETE", "/lists/{list_id}/members/{subscriber_hash}")
DELETE_PERMANENT = Endpoint("POST", "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent")
MEMBER_TAGS = Endpoint("GET", "/lists/{list_id}/members/{subscriber_hash}/tags")
UPDATE_MEMBER_TAGS = Endpoint("POST", "/lists/{list_id}/members/{subscriber_hash}/tags")

MEMBER_FIELDS: tuple[str, ...] = (
    "members.id",
    "members.email_address",
    "members.status",
    "members.last_changed",
    "members.merge_fields",
    "members.tags",
    "members.tags_count",
    "members.interests",
    "members.unsubscribe_reason",
)
"""What reconciliation reads of each member by default (``total_items`` is always added)."""


class MemberCalls:
    _transport: Transport

    def batch_subscribe(
        self,
        list_id: str,
        members: Sequence[MemberWrite],
        *,
        update_existing: bool = True,
        sync_tags: bool = False,
        skip_merge_validation: bool = False,
    ) -> BatchSubscribeReport:
        """Up to 500 members in one call. A 200 may still reject members: read ``errors``.

        ``status`` is required on every member and overwrites existing members' status when
        ``update_existing`` is on (there is no ``status_if_new`` here); tags are sent per member.
        """
        _check_limit("members", members)
        if any(m.status is None for m in members):
            raise ValueError("batch subscribe needs a status on every member")
        if not members:
            return BatchSubscribeReport((), (), ())
        body = {
            "members": [codec.member_body(m, for_batch=True) for m in members],
            "update_existing": update_existing,
            "sync_tags": sync_tags,
        }
        params = {"skip_merge_validation": skip_merge_validation or None}
        reply = self._transport.call(BATCH_SUBSCRIBE, {"list_id": list_id}, params=params, body=body)
        return codec.batch_subscribe_report(reply.data)

    def bulk_segment(
        self, list_id: str, segment_id: int, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> BulkSegmentReport:
        """Add and remove up to 500 addresses each to a tag/static segment; chunking is the caller's."""
        _check_limit("add", add)
        _check_limit("remove", remove)
        if not add and not remove:
            return BulkSegmentReport((), (), ())
        body = {"members_to_add": codec.addresses(add), "members_to_remove": codec.addresses(remove)}
        path = {"list_id": list_id, "segment_id": segment_id}
        return codec.bulk_segment_report(self._transport.call(BULK_SEGMENT, path, body=body).data)

    def upsert_member(
        self, list_id: str, member: MemberWrite, *, skip_merge_validation: bool = False
    ) -> MemberRecord | MemberOutcome:
        """PUT: create with ``status_if_new`` or update; ``status`` only when the person changed it."""
        if member.tags:
            raise ValueError("PUT ignores tags on existing members; use update_member_tags")
        subscriber_hash = mailchimp_subscriber_hash(member.email_address)
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        params = {"skip_merge_validation": skip_merge_validation or None}
        body = codec.member_body(member, for_batch=False)
        reply = self._transport.call(UPSERT_MEMBER, path, params=params, body=body, accept={400})
        return _member_or_outcome(reply, subscriber_hash, member.email_address)

    def patch_member(
        self,
        list_id: str,
        subscriber_hash: str,
        *,
        status: MemberStatus | None = None,
        merge_fields: Mapping[str, MergeValue] | None = None,
        email_address: str | None = None,
    ) -> MemberRecord | MemberOutcome:
        """PATCH the given fields of an existing member (404 comes back as a NOT_FOUND outcome)."""
        body: dict[str, object] = {}
        if status is not None:
            body["status"] = status.value
        if merge_fields:
            body["merge_fields"] = dict(merge_fields)
        if email_address is not None:
            body["email_address"] = email_address
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        reply = self._transport.call(PATCH_MEMBER, path, body=body, accept={400, 404})
        return _member_or_outcome(reply, subscriber_hash, None)

    def get_member(self, list_id: str, subscriber_hash: str) -> MemberRecord | None:
        """The member, or ``None`` if never on the audience or permanently deleted (Mailchimp: 404)."""
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        reply = self._transport.call(MEMBER, path, accept={404})
        return None if reply.status == 404 else codec.member(reply.data)

    def archive_member(self, list_id: str, subscriber_hash: str) -> bool:
        """DELETE = archive (reversible). ``False`` when there was no such member."""
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        return self._transport.call(ARCHIVE_MEMBER, path, accept={404}).status != 404

    def delete_member_permanent(self, list_id: str, subscriber_hash: str) -> bool:
        """Erase irreversibly (GDPR Art. 17). ``False`` when there was no such member."""
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        return self._transport.call(DELETE_PERMANENT, path, accept={404}).status != 404

    def member_tags(self, list_id: str, subscriber_hash: str) -> frozenset[str]:
        """Every tag name of one member (the member object itself carries at most 50)."""
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        return frozenset(codec.tag_name(t) for t in pages(self._transport, MEMBER_TAGS, path, "tags"))

    def update_member_tags(
        self,
        list_id: str,
        subscriber_hash: str,
        *,
        active: Iterable[str] = (),
        inactive: Iterable[str] = (),
        is_syncing: bool = True,
    ) -> MemberOutcome | None:
        """Add ``active`` and remove ``inactive`` tags; others stay. ``None`` when applied.

        ``is_syncing`` keeps tag-triggered automations from firing (right for a back-end sync).
        """
        tags = [{"name": n, "status": "active"} for n in active]
        tags += [{"name": n, "status": "inactive"} for n in inactive]
        if not tags:
            return None
        path = {"list_id": list_id, "subscriber_hash": subscriber_hash}
        body = {"tags": tags, "is_syncing": is_syncing}
        reply = self._transport.call(UPDATE_MEMBER_TAGS, path, body=body, accept={400, 404})
        return _outcome(reply.problem, subscriber_hash, None) if reply.problem is not None else None

    def iter_members(
        self,
        list_id: str,
        *,
        since_last_changed: datetime | None = None,
        status: MemberStatus | None = None,
        page_size: int = 1000,
        fields: Sequence[str] | None = MEMBER_FIELDS,
    ) -> Iterator[MemberRecord]:
        """Members, oldest change first, ``page_size`` per call; ``fields=None`` reads whole records."""
        params = {
            "since_last_changed": since_last_changed,
            "status": status.value if status is not None else None,
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "fields": [*fields, "total_items"] if fields is not None else None,
        }
        path = {"list_id": list_id}
        for found in pages(self._transport, MEMBERS, path, "members", params, page_size):
            yield codec.member(found)


def _check_limit(what: str, values: Sequence[object]) -> None:
    if len(values) > BATCH_LIMIT:
        raise ValueError(f"{what}: at most {BATCH_LIMIT} per call, got {len(values)}; chunk before calling")


def _member_or_outcome(reply: Reply, subscriber_hash: str, email: str | None) -> MemberRecord | MemberOutcome:
    if reply.problem is not None:
        return _outcome(reply.problem, subscriber_hash, email)
    return codec.member(reply.data)


def _outcome(problem: Problem, subscriber_hash: str, email: str | None) -> MemberOutcome:
    return MemberOutcome(
        email_address=email,
        subscriber_hash=subscriber_hash,
        kind=problem_rejection_kind(problem),
        error_code=problem.title,
        message=problem.describe(),
        field=problem.field_errors[0][0] if problem.field_errors else None,
    )
