"""The cyclic garbage collector, paused while a sync run or an import builds its plan.

A sync run's load, plan and persist phases (and an import's planner) build millions of objects that
stay alive to the end of the phase (rows, facts, the mirror, entitlements, desired members, operations),
and the pure core makes no reference cycles (property-tested);
the collector would only walk that growing heap again and again without finding anything to free (a fifth
of the pure core's time at 1M contacts). Reference counting frees what these phases drop either way; any
cycle the store layer leaves behind is collected once the collector runs again, when the block ends.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, freeze_survivors: bool = False) -> Iterator[None]:
    """No cyclic collection inside the block (it stays off if it was off).

    ``freeze_survivors`` moves what exists when the block ends out of the collector's reach
    (``gc.freeze``) before it runs again: a result of a million objects, all still in the youngest
    generation, would otherwise be scanned whole by the next collection (0.3 s for a million import
    decisions). Frozen objects are still freed by reference counting; only cycles among them stay, so it
    suits one-shot commands (an import), not the long-lived loops of the service or the daemon.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if freeze_survivors:
                gc.freeze()
            gc.enable()
