"""Properties of the inbound guard: small news always flows, bulk news waits for a person, and an empty
complete read of a list with members is refused whatever anyone accepts."""

from hypothesis import given
from hypothesis import strategies as st

from connector.core.inbound_guard import judge_inbound

sizes = st.integers(min_value=0, max_value=1_000_000)
fractions = st.floats(min_value=0, max_value=1)
floors = st.integers(min_value=0, max_value=100)


@given(st.integers(min_value=0, max_value=100), sizes, fractions, floors, st.booleans())
def test_news_within_the_floor_is_never_held(
    members: int, size: int, fraction: float, floor: int, accepted: bool
) -> None:
    verdict = judge_inbound(
        min(members, floor), size, complete_read=None, max_fraction=fraction, floor=floor, accepted=accepted
    )
    assert not verdict.held


@given(sizes, fractions, floors)
def test_news_beyond_the_limit_is_held_unless_accepted(size: int, fraction: float, floor: int) -> None:
    base = judge_inbound(0, size, complete_read=None, max_fraction=fraction, floor=floor, accepted=False)
    over = base.limit + 1
    held = judge_inbound(over, size, complete_read=None, max_fraction=fraction, floor=floor, accepted=False)
    accepted = judge_inbound(
        over, size, complete_read=None, max_fraction=fraction, floor=floor, accepted=True
    )
    assert held.held
    assert str(over) in held.message()
    assert not accepted.held


@given(st.integers(min_value=1, max_value=1_000_000), fractions, floors, st.booleans())
def test_an_empty_complete_read_of_a_list_with_members_is_always_held(
    size: int, fraction: float, floor: int, accepted: bool
) -> None:
    verdict = judge_inbound(
        size, size, complete_read=0, max_fraction=fraction, floor=floor, accepted=accepted
    )
    assert verdict.held
    assert "found no members" in verdict.message()


@given(fractions, floors)
def test_an_empty_read_of_an_empty_list_is_fine(fraction: float, floor: int) -> None:
    verdict = judge_inbound(0, 0, complete_read=0, max_fraction=fraction, floor=floor, accepted=False)
    assert not verdict.held
