"""Segment membership: a tag's static segment holds its tagged members; a saved segment evaluates its
``StaticSegment`` conditions (``static_is`` / ``static_not``) with ``match`` any or all."""

from collections.abc import Collection
from typing import Any

from connector.core.remote import RemoteMember
from connector.sandbox.problems import invalid
from connector.sandbox.state import Audience, SegmentRecord

SUPPORTED_CONDITIONS = frozenset({"StaticSegment"})
STATIC_OPS = frozenset({"static_is", "static_not"})


def check_conditions(audience: Audience, match: str, conditions: list[Any]) -> None:
    """400 for what the sandbox cannot evaluate or Mailchimp would refuse."""
    if match not in ("any", "all"):
        raise invalid("options.match", "match must be 'any' or 'all'")
    if not conditions or len(conditions) > 10:
        raise invalid("options.conditions", "a saved segment takes 1 to 10 conditions")
    for index, condition in enumerate(conditions):
        _check_condition(audience, index, condition)


def _check_condition(audience: Audience, index: int, condition: Any) -> None:
    where = f"options.conditions.{index}"
    if not isinstance(condition, dict) or condition.get("condition_type") not in SUPPORTED_CONDITIONS:
        raise invalid(where, "the sandbox evaluates StaticSegment conditions only")
    if condition.get("op") not in STATIC_OPS or condition.get("field") != "static_segment":
        raise invalid(where, "StaticSegment takes field 'static_segment' and op static_is or static_not")
    target = audience.segments.get(_as_int(condition.get("value")))
    if target is None or target.type != "static":
        raise invalid(where, "value must be the id of a tag (static segment) on this audience")


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def matches(audience: Audience, segment: SegmentRecord, member: RemoteMember) -> bool:
    if segment.type == "static":
        return segment.name in member.tags
    results = (_condition_holds(audience, condition, member) for condition in segment.conditions)
    return any(results) if segment.match == "any" else all(results)


def _condition_holds(audience: Audience, condition: dict[str, Any], member: RemoteMember) -> bool:
    target = audience.segments.get(_as_int(condition.get("value")))
    tagged = target is not None and target.name in member.tags
    return tagged if condition.get("op") == "static_is" else not tagged


def segment_members(
    audience: Audience, segment: SegmentRecord, statuses: Collection[str]
) -> list[RemoteMember]:
    """Present members with one of ``statuses`` that the segment holds."""
    return [
        member
        for member in audience.present_members()
        if member.status.value in statuses and matches(audience, segment, member)
    ]
