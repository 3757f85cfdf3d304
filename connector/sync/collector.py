"""The cyclic garbage collector, paused while a run loads, plans and persists its plan.

Those phases build millions of objects that stay alive to the end of the phase (rows, facts, the mirror,
entitlements, desired members, operations), and the pure core makes no reference cycles (property-tested);
the collector would only walk that growing heap again and again without finding anything to free (a fifth
of the pure core's time at 1M contacts). Reference counting frees what these phases drop either way; any
cycle the store layer leaves behind is collected once the collector runs again, when the block ends.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (it stays off if it was off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
