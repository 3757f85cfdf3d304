"""The campaign guard's judgement: only our marketing segments, or segments built only from our marketing
tags, are safe; everything else is flagged with a reason in words."""

from hypothesis import given
from hypothesis import strategies as st

from connector.core.campaign_guard import CampaignShape, Condition, SegmentShape, check_campaigns, flagged

TAGS = {"newsletter": "cs:newsletter", "offers": "cs:offers"}
NEWSLETTER = SegmentShape(1, "cs:newsletter", "static")
OFFERS = SegmentShape(2, "cs:offers", "static")
NOTICES = SegmentShape(3, "cs:transactional", "static")
VIP = SegmentShape(4, "vip", "static")


def has(tag: SegmentShape, op: str = "static_is") -> Condition:
    return Condition("StaticSegment", "static_segment", op, tag.id)


OURS = SegmentShape(10, "Marketing: offers", "saved", "all", (has(OFFERS),))
BOTH = SegmentShape(11, "Our readers", "saved", "any", (has(OFFERS), has(NEWSLETTER)))
MIXED = SegmentShape(12, "Offers and VIPs", "saved", "any", (has(OFFERS), has(VIP)))
SEGMENTS = [NEWSLETTER, OFFERS, NOTICES, VIP, OURS, BOTH, MIXED]


def campaign(**recipients: object) -> CampaignShape:
    return CampaignShape("c1", "Black Friday", "schedule", "L1", 10, **recipients)  # type: ignore[arg-type]


def judge(shape: CampaignShape) -> tuple[bool, str]:
    (finding,) = check_campaigns([shape], SEGMENTS, TAGS)
    return finding.safe, finding.reason


def test_our_marketing_segment_and_segments_built_only_from_it_are_safe() -> None:
    assert judge(campaign(saved_segment_id=OURS.id))[0]
    assert judge(campaign(saved_segment_id=BOTH.id))[0]
    assert judge(campaign(saved_segment_id=OFFERS.id))[0]
    assert judge(campaign(match="all", conditions=(has(OFFERS), has(NEWSLETTER))))[0]


def test_the_whole_audience_is_flagged() -> None:
    safe, reason = judge(campaign())
    assert not safe
    assert "whole audience" in reason
    assert "notices" in reason


def test_hand_made_segments_with_members_without_a_marketing_tag_are_flagged() -> None:
    safe, reason = judge(campaign(saved_segment_id=MIXED.id))
    assert not safe
    assert "'vip' is not a marketing tag" in reason
    assert "Offers and VIPs" in reason
    safe, reason = judge(campaign(conditions=(has(OFFERS, "static_not"),), match="all"))
    assert not safe
    assert "static_not" in reason
    safe, reason = judge(campaign(saved_segment_id=NOTICES.id))
    assert not safe
    assert "not one of our marketing tags" in reason
    merge = Condition("TextMerge", "FNAME", "is", "Ola")
    safe, reason = judge(campaign(conditions=(has(OFFERS), merge), match="all"))
    assert not safe
    assert "FNAME" in reason


def test_prebuilt_and_vanished_segments_are_flagged() -> None:
    safe, reason = judge(campaign(prebuilt_segment_id="subscribers-female"))
    assert not safe
    assert "prebuilt" in reason
    safe, reason = judge(campaign(saved_segment_id=999))
    assert not safe
    assert "no longer exists" in reason


@given(st.lists(st.sampled_from([NEWSLETTER, OFFERS, NOTICES, VIP]), min_size=1, max_size=5), st.booleans())
def test_conditions_are_safe_exactly_when_every_one_names_a_marketing_tag(
    tags: list[SegmentShape], any_match: bool
) -> None:
    shape = campaign(conditions=tuple(has(t) for t in tags), match="any" if any_match else "all")
    expected = all(t.name in TAGS.values() for t in tags)
    assert judge(shape)[0] is expected
    assert (flagged(check_campaigns([shape], SEGMENTS, TAGS)) == []) is expected
