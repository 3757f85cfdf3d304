"""How long each phase of a sync run took, in wall and CPU time: for the run's report and the benchmark.

CPU time is the calling thread's (``time.thread_time``): planning and recording run on the run's thread,
each call's sending on a worker thread, so the phases add up without counting each other.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Elapsed:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    count: int = 0
    """How many times the phase ran (calls sent, answers recorded)."""

    def __add__(self, other: "Elapsed") -> "Elapsed":
        return Elapsed(self.wall_s + other.wall_s, self.cpu_s + other.cpu_s, self.count + other.count)


class RunTimings:
    """Wall and CPU time per named phase, in the order the phases first ran. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, Elapsed] = {}

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Adds the block's wall time and this thread's CPU time to ``phase``."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(phase, Elapsed(time.perf_counter() - wall, time.thread_time() - cpu, 1))

    def add(self, phase: str, elapsed: Elapsed) -> None:
        with self._lock:
            self._phases[phase] = self._phases.get(phase, Elapsed()) + elapsed

    def include(self, other: "RunTimings") -> None:
        for phase, elapsed in other.phases().items():
            self.add(phase, elapsed)

    def phases(self) -> dict[str, Elapsed]:
        with self._lock:
            return dict(self._phases)

    def document(self) -> dict[str, dict[str, float]]:
        """Per phase: ``wall_s``, ``cpu_s`` and ``count``, rounded for a report."""
        return {
            phase: {"wall_s": round(e.wall_s, 4), "cpu_s": round(e.cpu_s, 4), "count": e.count}
            for phase, e in self.phases().items()
        }
