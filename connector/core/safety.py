"""Safety checks on a plan before anything is sent (docs/mailchimp-mapping.md, docs/architecture.md).

Two kinds of refusal:
- *destructive*: more than ``max_fraction`` of the audience would be unsubscribed, untagged of a marketing
  tag, archived or deleted for a lost basis (relationships ending, configuration, missing data) — usually
  a configuration mistake; ``--allow-destructive`` overrides. Removals a person's own recorded act caused
  (withdrawal, objection, unsubscribe, bounce, erasure) never count: they always flow, and a refused plan
  still applies them (:func:`opt_out_plan`);
- *unlawful*: a subscribe or a marketing tag without a basis, or ``subscribed`` sent for a member Mailchimp
  reports opted out — a bug, never overridable.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from connector.core.desired import AudienceMapping, DesiredMember
from connector.core.plan import (
    OPTED_OUT,
    AddTags,
    Archive,
    DeletePermanently,
    Operation,
    Plan,
    RemoveTags,
    UpsertMember,
)
from connector.core.remote import MemberStatus, RemoteMember


@dataclass(frozen=True, slots=True)
class SafetyReport:
    destructive_members: int
    """Members the plan removes marketing from because a basis was lost in bulk: the guarded ones."""
    audience_size: int
    violations: tuple[str, ...]
    destructive_refused: bool
    opt_out_members: int = 0
    """Members the plan removes marketing from because of their own recorded act: never held back."""

    @property
    def ok(self) -> bool:
        return not self.violations and not self.destructive_refused

    def message(self) -> str:
        if self.violations:
            return "plan refused: " + "; ".join(self.violations[:5])
        return (
            f"plan refused for {self.destructive_members} bulk removals: it would remove marketing from "
            f"{self.destructive_members} of {self.audience_size} members for a lost basis; "
            "re-run with --allow-destructive if that is intended"
        )


def check(
    plan: Plan,
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
    *,
    max_fraction: float,
    floor: int = 10,
    allow_destructive: bool = False,
    audience_size: int | None = None,
) -> SafetyReport:
    """Judge a plan. ``floor`` destructive members are always allowed, so single basis losses flow; removals
    a person's own act caused (:func:`opt_out_driven`) never count against the fraction.

    ``audience_size``: the members present on the audience, when ``mirror`` holds only some of them.
    """
    bulk, opt_outs = destructive_members(plan, desired, mirror, mapping)
    size = audience_size if audience_size is not None else sum(1 for m in mirror.values() if m.is_present)
    too_many = len(bulk) > max(floor, max_fraction * size)
    return SafetyReport(
        destructive_members=len(bulk),
        audience_size=size,
        violations=tuple(violations(plan, desired, mirror, mapping)),
        destructive_refused=too_many and not allow_destructive,
        opt_out_members=len(opt_outs - bulk),
    )


def destructive_members(
    plan: Plan,
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
) -> tuple[set[str], set[str]]:
    """The members a destructive operation touches: for a lost basis (guarded), for an opt-out (not)."""
    bulk: set[str] = set()
    opt_outs: set[str] = set()
    for op in plan.operations:
        if not is_destructive(op, mapping):
            continue
        key = op.subscriber_hash
        if opt_out_driven(op, desired.get(key), mirror.get(key), mapping):
            opt_outs.add(key)
        else:
            bulk.add(key)
    return bulk, opt_outs


def is_destructive(op: Operation, mapping: AudienceMapping) -> bool:
    """Unsubscribes, removes a marketing tag, archives or deletes."""
    match op:
        case UpsertMember(status=MemberStatus.UNSUBSCRIBED):
            return True
        case RemoveTags(tags=tags):
            return bool(tags & mapping.marketing_tags)
        case Archive() | DeletePermanently():
            return True
    return False


def opt_out_driven(
    op: Operation, want: DesiredMember | None, have: RemoteMember | None, mapping: AudienceMapping
) -> bool:
    """A removal the person's own recorded act caused: a withdrawal, an objection, a suppression
    (unsubscribe, bounce, complaint), an erasure, or Mailchimp reporting the member opted out.

    Every marketing purpose the operation takes away must be one the person opted out of; anything else
    (a relationship ending, a purpose unmapped, missing data) is a lost basis.
    """
    if want is None:
        return isinstance(op, Archive | DeletePermanently)  # only erasures plan for no desired member
    if isinstance(op, DeletePermanently):
        return True
    if have is not None and _opted_out(have):
        return isinstance(op, RemoveTags)
    taken = _purposes(op.tags if isinstance(op, RemoveTags) else _lost_tags(want, have, mapping), mapping)
    if isinstance(op, Archive) and have is not None and mapping.transactional_tag in have.tags:
        return False  # notices lost as well: the relationship ended
    return bool(taken) and taken <= want.opted_out


def _lost_tags(want: DesiredMember, have: RemoteMember | None, mapping: AudienceMapping) -> frozenset[str]:
    return mapping.owned(have.tags) - want.tags if have is not None else frozenset()


def _purposes(tags: frozenset[str], mapping: AudienceMapping) -> frozenset[str]:
    return frozenset(p for p in (mapping.purpose_of(t) for t in tags) if p is not None)


def opt_out_plan(
    plan: Plan,
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
) -> Plan:
    """The plan's opt-out-driven operations alone: what a refused plan still applies."""
    kept = tuple(
        op
        for op in plan.operations
        if is_destructive(op, mapping)
        and opt_out_driven(op, desired.get(op.subscriber_hash), mirror.get(op.subscriber_hash), mapping)
    )
    return Plan(plan.audience, kept)


def violations(
    plan: Plan,
    desired: Mapping[str, DesiredMember],
    mirror: Mapping[str, RemoteMember],
    mapping: AudienceMapping,
) -> list[str]:
    found: list[str] = []
    for op in plan.operations:
        want = desired.get(op.subscriber_hash)
        have = mirror.get(op.subscriber_hash)
        match op:
            case UpsertMember() if _subscribes(op) and (want is None or not want.present):
                found.append(f"member {op.subscriber_hash[:8]} would be subscribed without a basis")
            case UpsertMember(status=MemberStatus.SUBSCRIBED) if have is not None and _opted_out(have):
                found.append(f"member {op.subscriber_hash[:8]} is {have.status.value} in Mailchimp")
            case AddTags(tags=tags):
                found += _unbased_tags(op.subscriber_hash, tags, want, mapping)
    return found


def _subscribes(op: UpsertMember) -> bool:
    return MemberStatus.SUBSCRIBED in (op.status, op.status_if_new)


def _opted_out(member: RemoteMember) -> bool:
    return member.status in OPTED_OUT or member.forgotten


def _unbased_tags(
    key: str, tags: frozenset[str], want: DesiredMember | None, mapping: AudienceMapping
) -> list[str]:
    allowed = want.tags if want is not None and want.present else frozenset()
    wrong = sorted(t for t in tags if t not in allowed or not mapping.owns(t))
    return [f"member {key[:8]} would get tag {t} without a basis" for t in wrong]
