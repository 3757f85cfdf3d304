"""Injected faults: one seeded draw per API call decides whether (and how) it fails."""

import random
import secrets
import threading
from enum import StrEnum

from connector.sandbox.knobs import SandboxKnobs


class Fault(StrEnum):
    TOO_MANY_REQUESTS = "429"
    FORBIDDEN = "403"
    SERVER_ERROR = "5xx"
    SLOW = "slow"
    DROP = "drop"


def resolve_seed(knobs: SandboxKnobs) -> int:
    """The knob's seed, or a fresh one (which the runner prints so a run can be replayed)."""
    return knobs.seed if knobs.seed is not None else secrets.randbelow(2**31)


class FaultPlan:
    """Draws faults in call order from ``random.Random(seed)``: the same seed, the same sequence."""

    def __init__(self, knobs: SandboxKnobs, seed: int) -> None:
        self.seed = seed
        self._random = random.Random(seed)  # noqa: S311 - reproducible fault injection, not security
        self._lock = threading.Lock()
        self._rates = (
            (Fault.TOO_MANY_REQUESTS, knobs.fault_rate_429),
            (Fault.FORBIDDEN, knobs.fault_rate_403),
            (Fault.SERVER_ERROR, knobs.fault_rate_5xx),
            (Fault.SLOW, knobs.fault_rate_slow),
            (Fault.DROP, knobs.fault_rate_drop),
        )
        self.enabled = any(rate > 0 for _, rate in self._rates)

    def draw(self) -> Fault | None:
        if not self.enabled:
            return None
        with self._lock:
            roll = self._random.random()
        for fault, rate in self._rates:
            if roll < rate:
                return fault
            roll -= rate
        return None

    def reseed(self) -> None:
        with self._lock:
            self._random.seed(self.seed)
