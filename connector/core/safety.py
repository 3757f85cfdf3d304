"""Safety checks on a plan before anything is sent (DESIGN §4, §5).

Two kinds of refusal:
- *destructive*: more than ``max_fraction`` of the audience would be unsubscribed, untagged of a marketing
  tag, archived or deleted — usually a configuration mistake; ``--allow-destructive`` overrides;
- *unlawful*: a subscribe or a marketing tag without a basis, or ``subscribed`` sent for a member Mailchimp
  reports opted out — a bug, never overridable.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from connector.core.desired import AudienceMapping, DesiredMember
from connector.core.plan import OPTED_OUT, AddTags, Archive, DeletePermanently, Plan, RemoveTags, UpsertMember
from connector.core.remote import MemberStatus, RemoteMember


@dataclass(frozen=True, slots=True)
class SafetyReport:
    destructive_members: int
    audience_size: int
    violations: tuple[str, ...]
    destructive_refused: bool

    @property
    def ok(self) -> bool:
        return not self.violations and not self.destructive_refused

    def message(self) -> str:
        if self.violations:
            return "plan refused: " + "; ".join(self.violations[:5])
        return (
            f"plan refused: it would remove marketing from {self.destructive_members} of "
            f"{self.audience_size} members; re-run with --allow-destructive if that is intended"
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
    """Judge a plan. ``floor`` destructive members are always allowed, so single opt-outs always flow.

    ``audience_size``: the members present on the audience, when ``mirror`` holds only some of them.
    """
    destructive = destructive_members(plan, mapping)
    size = audience_size if audience_size is not None else sum(1 for m in mirror.values() if m.is_present)
    too_many = len(destructive) > max(floor, max_fraction * size)
    return SafetyReport(
        destructive_members=len(destructive),
        audience_size=size,
        violations=tuple(violations(plan, desired, mirror, mapping)),
        destructive_refused=too_many and not allow_destructive,
    )


def destructive_members(plan: Plan, mapping: AudienceMapping) -> set[str]:
    hit: set[str] = set()
    for op in plan.operations:
        match op:
            case UpsertMember(status=MemberStatus.UNSUBSCRIBED):
                hit.add(op.subscriber_hash)
            case RemoveTags(tags=tags) if tags & mapping.marketing_tags:
                hit.add(op.subscriber_hash)
            case Archive() | DeletePermanently():
                hit.add(op.subscriber_hash)
    return hit


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
