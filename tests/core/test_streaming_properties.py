"""Properties of the streamed plan's pure part: planned chunk by chunk it is the whole plan (as a multiset,
whatever the chunk size), the guard's verdict from the chunks' held counts is the whole plan's, and what a
refused plan still sends is exactly its opt-outs."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core import safety
from connector.core.plan import Plan, diff, estimate_calls
from connector.core.streaming import HELD, HELD_BULK, HELD_OPT_OUT, SEND, CallTally, holds, verdict
from tests.core.test_plan_properties import Audience, audiences, note_coverage


@settings(max_examples=300, deadline=None)
@given(audiences(), st.integers(min_value=1, max_value=13), st.floats(0, 1), st.integers(0, 3), st.booleans())
def test_a_chunked_plan_is_the_whole_plan_and_the_guard_judges_it_alike(
    audience: Audience, chunk: int, fraction: float, floor: int, allow: bool
) -> None:
    note_coverage(audience)
    desired, mirror, managed, mapping = audience
    whole = diff(desired, mirror, mapping, managed)
    keys = sorted(desired)
    operations, states = [], []
    tally = CallTally()
    found: list[str] = []
    for start in range(0, len(keys), chunk):
        part = {k: desired[k] for k in keys[start : start + chunk]}
        plan = diff(part, {k: mirror[k] for k in part if k in mirror}, mapping, managed)
        found += safety.violations(plan, part, mirror, mapping)
        states += holds(plan.operations, part, mirror, mapping)
        operations += plan.operations
        tally.add(plan.operations)
    assert Counter(operations) == Counter(whole.operations)
    assert tally.calls(500, 50) == estimate_calls(whole, 500, batch_jobs_above=50)

    size = sum(1 for m in mirror.values() if m.is_present)
    expected = safety.check(
        whole, desired, mirror, mapping, max_fraction=fraction, floor=floor, allow_destructive=allow
    )
    bulk = {op.subscriber_hash for op, s in zip(operations, states, strict=True) if s == HELD_BULK}
    opt_outs = {op.subscriber_hash for op, s in zip(operations, states, strict=True) if s == HELD_OPT_OUT}
    judged = verdict(
        len(bulk),
        len(opt_outs - bulk),
        size,
        found,
        max_fraction=fraction,
        floor=floor,
        allow_destructive=allow,
    )
    assert judged == expected

    released = [op for op, s in zip(operations, states, strict=True) if s == HELD_OPT_OUT]
    assert Counter(released) == Counter(safety.opt_out_plan(whole, desired, mirror, mapping).operations)
    for op, state in zip(operations, states, strict=True):
        assert state in (SEND, *HELD)
        if state == SEND:  # streamed at once: never destructive, never of a member with a destructive op
            assert not safety.is_destructive(op, mapping)
            assert op.subscriber_hash not in bulk | opt_outs
    assert Plan(whole.audience, tuple(operations)).counts() == whole.counts()
