"""The campaign guard: which campaigns would reach people who may only get notices.

A campaign is safe when its recipients are exactly one of our ``Marketing: <purpose>`` saved segments, or a
segment built only from our marketing tags (``has tag <purpose tag>`` conditions, matched any or all). Every
other campaign is flagged with the reason in words: the whole audience, a prebuilt segment, a condition on
anything but a marketing tag (a notices-only or basis tag, a "has not" condition, a merge field …), or a
segment that no longer exists. Pure: the shell reads the campaigns and segments and hands them here.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STATIC_CONDITION = "StaticSegment"
CHECKED_STATUSES = ("save", "paused", "schedule")
"""Campaigns that can still be sent: saved drafts, paused and scheduled ones."""


@dataclass(frozen=True, slots=True)
class Condition:
    condition_type: str
    field: str
    op: str
    value: str | int | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SegmentShape:
    """A segment of the audience: a tag (``static``) or a saved segment with its conditions."""

    id: int
    name: str
    type: str
    match: str | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignShape:
    """One campaign's recipients as Mailchimp reports them (``recipients.segment_opts``)."""

    id: str
    title: str
    status: str
    list_id: str
    recipient_count: int = 0
    saved_segment_id: int | None = None
    prebuilt_segment_id: str | None = None
    match: str | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    campaign_id: str
    title: str
    status: str
    recipient_count: int
    safe: bool
    reason: str
    """Why it is safe (the segment it sends to) or why it is flagged."""


def check_campaigns(
    campaigns: Sequence[CampaignShape],
    segments: Sequence[SegmentShape],
    marketing_tags: Mapping[str, str],
) -> list[Finding]:
    """A finding per campaign. ``marketing_tags``: marketing purpose → its tag name (``cs:offers``)."""
    by_id = {s.id: s for s in segments}
    purpose_of_tag = {tag: purpose for purpose, tag in marketing_tags.items()}
    return [_check(c, by_id, purpose_of_tag) for c in campaigns]


def flagged(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if not f.safe]


def _check(
    campaign: CampaignShape, segments: Mapping[int, SegmentShape], purpose_of_tag: Mapping[str, str]
) -> Finding:
    def finding(safe: bool, reason: str) -> Finding:
        return Finding(campaign.id, campaign.title, campaign.status, campaign.recipient_count, safe, reason)

    if campaign.prebuilt_segment_id:
        return finding(
            False,
            f"sends to Mailchimp's prebuilt segment {campaign.prebuilt_segment_id!r}, "
            "which is not built from our marketing tags",
        )
    if campaign.saved_segment_id is not None:
        segment = segments.get(campaign.saved_segment_id)
        if segment is None:
            return finding(False, f"sends to segment {campaign.saved_segment_id}, which no longer exists")
        problem = _segment_problem(segment, segments, purpose_of_tag)
        if problem:
            return finding(False, f"sends to segment {segment.name!r}, {problem}")
        return finding(True, f"sends to {segment.name!r}, built only from our marketing tags")
    if campaign.conditions:
        problem = _conditions_problem(campaign.conditions, segments, purpose_of_tag)
        if problem:
            return finding(False, f"sends to a hand-made segment: {problem}")
        return finding(True, "sends to conditions on our marketing tags only")
    return finding(
        False,
        "sends to the whole audience, which holds people who may only get notices; "
        "choose a 'Marketing: <purpose>' segment",
    )


def _segment_problem(
    segment: SegmentShape, segments: Mapping[int, SegmentShape], purpose_of_tag: Mapping[str, str]
) -> str | None:
    if segment.type == "static":
        if segment.name in purpose_of_tag:
            return None
        return f"a tag that is not one of our marketing tags ({', '.join(sorted(purpose_of_tag))})"
    if not segment.conditions:
        return "which has no conditions we can read"
    return _conditions_problem(segment.conditions, segments, purpose_of_tag)


def _conditions_problem(
    conditions: Sequence[Condition], segments: Mapping[int, SegmentShape], purpose_of_tag: Mapping[str, str]
) -> str | None:
    """``None`` when every condition is "has our marketing tag"; else the first one that is not, in words."""
    for condition in conditions:
        if condition.condition_type != STATIC_CONDITION or condition.field != "static_segment":
            return (
                f"a condition on {condition.field or condition.condition_type!r} can include members "
                "without a marketing tag"
            )
        target = segments.get(_as_int(condition.value))
        name = target.name if target is not None else f"tag {condition.value}"
        if condition.op != "static_is":
            return f"the condition '{condition.op} {name}' includes members without a marketing tag"
        if target is None:
            return f"it names {name}, which no longer exists"
        if target.name not in purpose_of_tag:
            return f"the tag {name!r} is not a marketing tag, so it includes members who may only get notices"
    return None


def _as_int(value: object) -> int:
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return -1
