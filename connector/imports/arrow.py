"""Whether Apache Arrow (``pyarrow``, the optional ``parquet`` extra) is installed.

With it, plain contacts files are planned set-based with Arrow's CSV reader and compute kernels
(``contact_plan``); without it, by the per-row reference planner, which gives the same plan.
"""

from functools import cache


@cache
def arrow_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
