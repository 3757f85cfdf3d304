"""The plan: the ordered, immutable operations that turn Mailchimp's mirror into the desired state.

``diff`` is pure and deterministic and emits no no-ops. ``sync/apply.py`` performs a plan and
``sync/explain.py`` renders it; both ``match`` on :data:`Operation` and end in ``assert_never``.
"""

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from connector.core.desired import AudienceMapping, DesiredMember
from connector.core.remote import MemberStatus, MergeFields, RemoteMember

BATCH_LIMIT = 500
BATCH_JOB_CALLS = 3
OPTED_OUT = frozenset({MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED})


@dataclass(frozen=True, slots=True)
class UpsertMember:
    """Create the member, or bring its status and merge fields up to date (batch subscribe).

    ``creates``: the mirror knows no such member, so this call adds it; its :class:`AddTags` can ride
    along in the same batch subscribe (tags on new members), needing no tag call of their own.
    """

    subscriber_hash: str
    email: str
    status: MemberStatus | None
    status_if_new: MemberStatus
    merge_fields: MergeFields
    because: str
    creates: bool = False
    interests: tuple[tuple[str, bool], ...] = ()
    """Mapped Mailchimp interests to set (id, ticked); empty: leave the member's interests alone."""


@dataclass(frozen=True, slots=True)
class AddTags:
    subscriber_hash: str
    email: str
    tags: frozenset[str]
    because: str


@dataclass(frozen=True, slots=True)
class RemoveTags:
    subscriber_hash: str
    email: str
    tags: frozenset[str]
    because: str


@dataclass(frozen=True, slots=True)
class Archive:
    subscriber_hash: str
    because: str


@dataclass(frozen=True, slots=True)
class DeletePermanently:
    subscriber_hash: str
    because: str


Operation = UpsertMember | AddTags | RemoveTags | Archive | DeletePermanently


@dataclass(frozen=True, slots=True)
class Plan:
    audience: str
    operations: tuple[Operation, ...]

    def __len__(self) -> int:
        return len(self.operations)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for op in self.operations:
            counted[type(op).__name__] = counted.get(type(op).__name__, 0) + 1
        return counted


@dataclass(frozen=True, slots=True)
class Erasure:
    """A member to erase in Mailchimp (P7), found from an erasure tombstone."""

    subscriber_hash: str
    how: Literal["delete_permanent", "archive"]


def diff(
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
    managed: frozenset[str] = frozenset(),
    erasures: Iterable[Erasure] = (),
    held: frozenset[str] = frozenset(),
) -> Plan:
    """Operations turning ``mirror`` into ``desired``; both keyed by subscriber hash.

    ``managed`` are the members consent-sync created: only those are archived when they lose every
    entitlement; others only lose our tags. ``held`` are members a re-permission campaign asked: while
    Mailchimp has them ``pending`` they are left exactly as they are (see :func:`is_held`).
    """
    operations: list[Operation] = []
    for key in sorted(desired):
        have = mirror.get(key)
        if held and key in held and is_held(desired[key], have):
            continue
        operations += member_operations(desired[key], have, mapping, key in managed)
    for erasure in sorted(erasures, key=lambda e: e.subscriber_hash):
        again = desired.get(erasure.subscriber_hash)
        if again is not None and again.present:
            continue  # the address signed up again: the new contact's member is not erased
        operations += erasure_operations(erasure, mirror.get(erasure.subscriber_hash))
    return Plan(audience=mapping.name, operations=tuple(operations))


def member_operations(
    want: DesiredMember, have: RemoteMember | None, mapping: AudienceMapping, managed: bool
) -> list[Operation]:
    if have is not None and have.forgotten:
        return []
    if not want.present:
        return _leave(want, have, mapping, managed)
    if have is None or have.is_archived:
        return _join(want, have, mapping)
    return _update(want, have, mapping)


def is_held(want: DesiredMember, have: RemoteMember | None) -> bool:
    """A member asked again for consent stays ``pending`` (no status, tags, interests or archive) until
    the person confirms or the campaign's deadline ends the stale consent; campaigns reach nobody
    ``pending`` meanwhile. An opt-out recorded meanwhile (a withdrawal, an objection) is not held back."""
    return have is not None and have.status is MemberStatus.PENDING and not want.opted_out


def erasure_operations(erasure: Erasure, have: RemoteMember | None) -> list[Operation]:
    if have is None or have.forgotten:
        return []
    if erasure.how == "archive":
        return [] if have.is_archived else [Archive(erasure.subscriber_hash, "erased (P7)")]
    return [DeletePermanently(erasure.subscriber_hash, "erased (P7)")]


def _join(want: DesiredMember, have: RemoteMember | None, mapping: AudienceMapping) -> list[Operation]:
    assert want.status is not None
    status = want.status if have is not None else None  # `status` unarchives; `status_if_new` creates
    because = "archived member is entitled again" if have is not None else "new member with an entitlement"
    upsert = UpsertMember(
        want.subscriber_hash,
        want.email,
        status,
        want.status,
        want.merge_fields,
        because,
        creates=have is None,
        interests=want.interests,
    )
    return [upsert, *_tag_operations(want, want.tags, have.tags if have else frozenset(), mapping, have)]


def _tag_operations(
    want: DesiredMember,
    wanted: frozenset[str],
    current: frozenset[str],
    mapping: AudienceMapping,
    have: RemoteMember | None,
) -> list[Operation]:
    owned = mapping.owned(current)
    if wanted == owned:
        return []
    ops: list[Operation] = []
    if add := wanted - owned:
        ops.append(AddTags(want.subscriber_hash, want.email, add, _tag_reason(want)))
    if remove := owned - wanted:
        because = _untag_reason(want, have) if have is not None else "entitlement ended or withdrawn"
        ops += _removals(want, remove, because, mapping)
    return ops


def _removals(
    want: DesiredMember, remove: frozenset[str], because: str, mapping: AudienceMapping
) -> list[Operation]:
    """One removal, or two when the person opted out of some purposes and lost the basis of others: the
    opt-outs apart (with the basis tags when every purpose lost is opted out), so the guard can let the
    opt-outs through and hold back only the rest."""
    opted_out = frozenset(t for t in remove if mapping.purpose_of(t) in want.opted_out)
    if not opted_out:
        return [RemoveTags(want.subscriber_hash, want.email, remove, because)]
    lost = frozenset(t for t in remove if mapping.purpose_of(t) is not None)
    if lost <= opted_out:
        return [RemoveTags(want.subscriber_hash, want.email, remove, because)]
    return [
        RemoveTags(want.subscriber_hash, want.email, opted_out, because),
        RemoveTags(want.subscriber_hash, want.email, remove - opted_out, because),
    ]


def _update(want: DesiredMember, have: RemoteMember, mapping: AudienceMapping) -> list[Operation]:
    ops: list[Operation] = []
    status = _status_change(want, have)
    details = _merge_fields_differ(want.merge_fields, have.merge_fields, mapping)
    interests = _interests_differ(want, have)
    if status is not None or details or interests:
        if status is not None:
            because = f"status {have.status.value} → {status.value}"
        else:
            because = "contact details changed" if details else "Mailchimp interests follow consent"
        ops.append(
            UpsertMember(
                want.subscriber_hash,
                want.email,
                status,
                want.status or status or have.status,
                want.merge_fields,
                because,
                interests=want.interests,
            )
        )
    return ops + _tag_operations(want, reachable_tags(want, have, mapping), have.tags, mapping, have)


def _interests_differ(want: DesiredMember, have: RemoteMember) -> bool:
    """A mapped interest Mailchimp shows otherwise than consent says (others are not ours to touch)."""
    if not want.interests:
        return False
    current = dict(have.interests)
    return any(current.get(interest_id, False) != ticked for interest_id, ticked in want.interests)


def _leave(
    want: DesiredMember, have: RemoteMember | None, mapping: AudienceMapping, managed: bool
) -> list[Operation]:
    if have is None:
        return []
    ops: list[Operation] = []
    if owned := mapping.owned(have.tags):
        ops += _removals(want, owned, "no entitlement any more", mapping)
    if have.is_present and managed and mapping.on_no_entitlement == "archive":
        ops.append(Archive(want.subscriber_hash, "no entitlement any more (archived, reversible)"))
    return ops


def reachable_tags(want: DesiredMember, have: RemoteMember, mapping: AudienceMapping) -> frozenset[str]:
    """The tags a member may carry given Mailchimp's own status: opted out there means no marketing."""
    if have.status is MemberStatus.CLEANED:
        return frozenset()
    if have.status is MemberStatus.UNSUBSCRIBED:
        return want.tags & {mapping.transactional_tag}
    return want.tags


def _status_change(want: DesiredMember, have: RemoteMember) -> MemberStatus | None:
    """The status to send, if any. Never re-subscribes an opted-out member; never touches pending."""
    target = want.status
    if target is None or have.status in OPTED_OUT or have.status is MemberStatus.PENDING:
        return None
    if target is MemberStatus.TRANSACTIONAL and have.status is MemberStatus.SUBSCRIBED:
        return MemberStatus.UNSUBSCRIBED  # strict mode: an existing subscriber loses marketing
    if target is MemberStatus.TRANSACTIONAL and have.status is MemberStatus.UNSUBSCRIBED:
        return None
    return None if target == have.status else target


@functools.lru_cache(maxsize=64)
def _merge_tags(merge_fields: tuple[tuple[str, str], ...]) -> frozenset[str]:
    return frozenset(tag for tag, _ in merge_fields)


def _merge_fields_differ(want: MergeFields, have: MergeFields, mapping: AudienceMapping) -> bool:
    ours = _merge_tags(mapping.merge_fields)
    current = {tag: value for tag, value in have if tag in ours}
    return any(current.get(tag, "") != value for tag, value in want)


def _tag_reason(want: DesiredMember) -> str:
    parts = sorted(want.marketing_purposes)
    if want.transactional:
        parts.append("transactional")
    return "entitled to " + ", ".join(parts) if parts else "entitled"


def _untag_reason(want: DesiredMember, have: RemoteMember) -> str:
    if have.status in OPTED_OUT:
        return f"{have.status.value} in Mailchimp"
    return "entitlement ended or withdrawn"


def estimate_calls(plan: Plan, batch_limit: int = BATCH_LIMIT, *, batch_jobs_above: int | None = None) -> int:
    """API calls ``apply`` will make: batch upserts, bulk tag calls per tag, one call per archive/delete.

    Tags added to a member the same plan creates travel inside its batch subscribe and cost no call.
    With ``batch_jobs_above``, more archives/deletions than that count as one ``/batches`` job: submit,
    one status poll and the results (polls while Mailchimp works are extra).
    """
    upserts = sum(isinstance(op, UpsertMember) for op in plan.operations)
    created = created_members(plan.operations)
    adds: dict[str, int] = {}
    removes: dict[str, int] = {}
    singles = 0
    for op in plan.operations:
        match op:
            case AddTags(subscriber_hash=key, tags=tags) if key not in created:
                for tag in tags:
                    adds[tag] = adds.get(tag, 0) + 1
            case RemoveTags(tags=tags):
                for tag in tags:
                    removes[tag] = removes.get(tag, 0) + 1
            case Archive() | DeletePermanently():
                singles += 1
    tag_calls = sum(
        math.ceil(max(adds.get(t, 0), removes.get(t, 0)) / batch_limit) for t in adds.keys() | removes.keys()
    )
    if batch_jobs_above is not None and singles > batch_jobs_above:
        singles = BATCH_JOB_CALLS
    return math.ceil(upserts / batch_limit) + tag_calls + singles


def created_members(operations: Iterable[Operation]) -> frozenset[str]:
    """Members these operations create: their added tags go out with their batch subscribe."""
    return frozenset(op.subscriber_hash for op in operations if isinstance(op, UpsertMember) and op.creates)
