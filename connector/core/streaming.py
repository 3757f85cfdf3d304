"""A streamed plan's pure part: which operations of a chunk wait for the guard, and the whole plan's tallies.

A streamed run plans the audience chunk by chunk (see ``sync/stream.py``). Additive operations go out at
once; a member with a destructive operation (:func:`connector.core.safety.is_destructive`) waits, every
operation of it, until the whole audience is planned and the guard has judged the plan. The guard's verdict
needs only counts, so it is reached from tallies (:func:`verdict`), never from the whole plan in memory.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connector.core.desired import AudienceMapping, DesiredMember
from connector.core.plan import (
    BATCH_JOB_CALLS,
    AddTags,
    Archive,
    DeletePermanently,
    Operation,
    RemoveTags,
    UpsertMember,
    created_members,
)
from connector.core.remote import RemoteMember
from connector.core.safety import SafetyReport, is_destructive, opt_out_driven

SEND = "pending"
"""Sent at once (the stored state of an operation ready to go)."""
HELD_BULK = "held:bulk"
"""Destructive for a lost basis: counts against the guard; sent only if it passes."""
HELD_OPT_OUT = "held:opt_out"
"""Destructive because of the person's own act: sent whatever the guard says, once it has spoken."""
HELD_WITH = "held:with"
"""Not destructive, but of a member with a destructive operation: waits with it (order per member)."""
HELD = (HELD_BULK, HELD_OPT_OUT, HELD_WITH)
REFUSED = "refused"
"""Held back for good: the guard refused the plan."""


def holds(
    operations: Sequence[Operation],
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
    *,
    hold_all: bool = False,
) -> list[str]:
    """The stored state of each operation, in order: :data:`SEND` or one of :data:`HELD`.

    ``hold_all``: the plan broke a rule (a violation): nothing more goes out before the verdict.
    """
    kinds: list[str | None] = []
    held_members: set[str] = set()
    for op in operations:
        key = op.subscriber_hash
        if is_destructive(op, mapping):
            driven = opt_out_driven(op, desired.get(key), mirror.get(key), mapping)
            kinds.append(HELD_OPT_OUT if driven else HELD_BULK)
            held_members.add(key)
        else:
            kinds.append(None)
    return [
        kind if kind is not None else (HELD_WITH if hold_all or op.subscriber_hash in held_members else SEND)
        for op, kind in zip(operations, kinds, strict=True)
    ]


@dataclass(slots=True)
class CallTally:
    """What :func:`connector.core.plan.estimate_calls` counts, summed chunk by chunk."""

    upserts: int = 0
    adds: dict[str, int] = field(default_factory=dict)
    removes: dict[str, int] = field(default_factory=dict)
    singles: int = 0

    def add(self, operations: Sequence[Operation]) -> None:
        """A chunk's operations (a member's operations are all in one chunk)."""
        created = created_members(operations)
        for op in operations:
            match op:
                case UpsertMember():
                    self.upserts += 1
                case AddTags(subscriber_hash=key, tags=tags) if key not in created:
                    for tag in tags:
                        self.adds[tag] = self.adds.get(tag, 0) + 1
                case RemoveTags(tags=tags):
                    for tag in tags:
                        self.removes[tag] = self.removes.get(tag, 0) + 1
                case Archive() | DeletePermanently():
                    self.singles += 1

    def calls(self, batch_limit: int, batch_jobs_above: int | None = None) -> int:
        tags = self.adds.keys() | self.removes.keys()
        tag_calls = sum(
            math.ceil(max(self.adds.get(t, 0), self.removes.get(t, 0)) / batch_limit) for t in tags
        )
        singles = self.singles
        if batch_jobs_above is not None and singles > batch_jobs_above:
            singles = BATCH_JOB_CALLS
        return math.ceil(self.upserts / batch_limit) + tag_calls + singles

    def document(self) -> dict[str, object]:
        return {"upserts": self.upserts, "adds": self.adds, "removes": self.removes, "singles": self.singles}

    @classmethod
    def of(cls, document: Mapping[str, object]) -> "CallTally":
        adds, removes = document.get("adds", {}), document.get("removes", {})
        assert isinstance(adds, dict)
        assert isinstance(removes, dict)
        upserts, singles = document.get("upserts", 0), document.get("singles", 0)
        assert isinstance(upserts, int)
        assert isinstance(singles, int)
        return cls(upserts, dict(adds), dict(removes), singles)


def verdict(
    bulk_members: int,
    opt_out_members: int,
    audience_size: int,
    violations: Sequence[str],
    *,
    max_fraction: float,
    floor: int = 10,
    allow_destructive: bool = False,
) -> SafetyReport:
    """The guard's judgement from counts: what :func:`connector.core.safety.check` decides for the plan."""
    too_many = bulk_members > max(floor, max_fraction * audience_size)
    return SafetyReport(
        destructive_members=bulk_members,
        audience_size=audience_size,
        violations=tuple(violations),
        destructive_refused=too_many and not allow_destructive,
        opt_out_members=opt_out_members,
    )
