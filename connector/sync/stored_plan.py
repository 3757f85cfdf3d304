"""A plan's operations as rows of ``plan_operations``: what a resumed run reads back.

``encode`` adds what ``apply`` needs beyond the operation itself: the status to send in a batch
subscribe (which requires one) and the contact the member belongs to.
"""

from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from connector.core.plan import AddTags, Archive, DeletePermanently, Operation, RemoveTags, UpsertMember
from connector.core.remote import MemberStatus, merge_fields_of


def encode(
    op: Operation, *, send_status: MemberStatus | None, contact_id: str | None
) -> tuple[str, dict[str, Any]]:
    """The row kind and payload of one operation."""
    match op:
        case UpsertMember():
            return "upsert", {
                "email": op.email,
                "status": op.status.value if op.status else None,
                "status_if_new": op.status_if_new.value,
                "send_status": (send_status or op.status_if_new).value,
                "merge_fields": dict(op.merge_fields),
                "because": op.because,
                "contact_id": contact_id,
                "creates": op.creates,
                **({"interests": dict(op.interests)} if op.interests else {}),
            }
        case AddTags() | RemoveTags():
            kind = "add_tags" if isinstance(op, AddTags) else "remove_tags"
            return kind, {
                "email": op.email,
                "tags": sorted(op.tags),
                "done_tags": [],
                "because": op.because,
                "contact_id": contact_id,
            }
        case Archive():
            return "archive", {"because": op.because}
        case DeletePermanently():
            return "delete_permanently", {"because": op.because}
        case _:
            assert_never(op)


class StoredOperation(Protocol):
    """What ``decode`` reads: a ``plan_operations`` row, as ORM object or plain row."""

    @property
    def kind(self) -> str: ...
    @property
    def subscriber_hash(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A ``plan_operations`` row as the mapping written to the table."""

    run_id: str
    seq: int
    kind: str
    subscriber_hash: str
    payload: dict[str, Any]
    state: str
    outcome: str | None


def decode(row: StoredOperation) -> Operation:
    """The operation a row holds."""
    data = row.payload
    key = row.subscriber_hash
    if row.kind == "upsert":
        status = MemberStatus(data["status"]) if data["status"] else None
        merge = merge_fields_of(data["merge_fields"])
        return UpsertMember(
            key,
            data["email"],
            status,
            MemberStatus(data["status_if_new"]),
            merge,
            data["because"],
            creates=bool(data.get("creates", False)),
            interests=tuple(sorted(data.get("interests", {}).items())),
        )
    if row.kind == "add_tags":
        return AddTags(key, data["email"], frozenset(data["tags"]), data["because"])
    if row.kind == "remove_tags":
        return RemoveTags(key, data["email"], frozenset(data["tags"]), data["because"])
    if row.kind == "archive":
        return Archive(key, data["because"])
    if row.kind == "delete_permanently":
        return DeletePermanently(key, data["because"])
    raise ValueError(f"plan_operations: unknown kind {row.kind!r}")
