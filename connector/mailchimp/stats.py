"""Counters the benchmarks and ``/metrics`` read: calls, retries and throttles per endpoint.

Endpoints are labelled ``METHOD /template`` (``PUT /lists/{list_id}/members/{subscriber_hash}``), never
with ids or addresses. Every HTTP attempt counts as a call, retries included. Each gateway has its own
counters (a run reports its own calls) and also adds to the process's totals (:func:`process_totals`),
which ``/metrics`` exposes as monotonic counters.
"""

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    calls: Mapping[str, int]
    retries: Mapping[str, int]
    throttles: Mapping[str, int]
    failures: Mapping[str, int]
    """Calls that ended in an error after the last attempt."""
    peak_in_flight: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())

    @property
    def total_throttles(self) -> int:
        return sum(self.throttles.values())


Sink = Callable[[str, str], None]
"""Told ``(counter, endpoint)`` of every count; ``counter`` is calls, retries, throttles or failures."""


class GatewayStats:
    """Thread-safe counters; read them with :meth:`snapshot`."""

    def __init__(self, totals: "GatewayStats | None" = None) -> None:
        """``totals``: counters that every count here is also added to (the process's, usually)."""
        self._totals = totals
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._throttles: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._peak_in_flight = 0
        self._sink: Sink | None = None

    def forward_to(self, sink: Sink | None) -> None:
        """Also tell ``sink`` of every count from now on (``None``: stop)."""
        self._sink = sink

    def called(self, endpoint: str, in_flight: int) -> None:
        with self._lock:
            self._calls[endpoint] += 1
            self._peak_in_flight = max(self._peak_in_flight, in_flight)
        if self._totals is not None:
            self._totals.called(endpoint, in_flight)
        if self._sink is not None:
            self._sink("calls", endpoint)

    def retried(self, endpoint: str) -> None:
        with self._lock:
            self._retries[endpoint] += 1
        if self._totals is not None:
            self._totals.retried(endpoint)
        if self._sink is not None:
            self._sink("retries", endpoint)

    def throttled(self, endpoint: str) -> None:
        with self._lock:
            self._throttles[endpoint] += 1
        if self._totals is not None:
            self._totals.throttled(endpoint)
        if self._sink is not None:
            self._sink("throttles", endpoint)

    def failed(self, endpoint: str) -> None:
        with self._lock:
            self._failures[endpoint] += 1
        if self._totals is not None:
            self._totals.failed(endpoint)
        if self._sink is not None:
            self._sink("failures", endpoint)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                calls=dict(self._calls),
                retries=dict(self._retries),
                throttles=dict(self._throttles),
                failures=dict(self._failures),
                peak_in_flight=self._peak_in_flight,
            )

    def reset(self) -> None:
        """Zero these counters (not the process's totals they also feed)."""
        with self._lock:
            for counter in (self._calls, self._retries, self._throttles, self._failures):
                counter.clear()
            self._peak_in_flight = 0


_PROCESS_TOTALS = GatewayStats()


def process_totals() -> GatewayStats:
    """Every gateway's counts in this process since it started; never reset."""
    return _PROCESS_TOTALS
