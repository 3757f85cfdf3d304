"""What the sandbox saw: calls per endpoint and status, peak concurrency, and the request log."""

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: str
    method: str
    path: str
    query: str
    endpoint: str
    status: int
    duration_ms: float
    fault: str | None = None
    request_body: str | None = None
    response_body: str | None = None


class Observations:
    """Thread-safe counters and a bounded request log."""

    def __init__(self, log_size: int) -> None:
        self._lock = threading.Lock()
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self._calls: Counter[tuple[str, int]] = Counter()
        self._faults: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected_over_limit = 0

    def enter(self) -> int:
        """Count a request in flight; returns how many are now in flight."""
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.in_flight

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)
            self._calls[(record.endpoint, record.status)] += 1
            if record.fault:
                self._faults[record.fault] += 1
            if record.fault == "over_limit":
                self.rejected_over_limit += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            endpoints: dict[str, dict[str, int]] = {}
            for (endpoint, status), count in sorted(self._calls.items()):
                endpoints.setdefault(endpoint, {})[str(status)] = count
            return {
                "total_calls": sum(self._calls.values()),
                "endpoints": endpoints,
                "faults": dict(self._faults),
                "in_flight": self.in_flight,
                "peak_concurrency": self.peak_in_flight,
                "rejected_over_limit": self.rejected_over_limit,
            }

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._log)
        return [asdict(record) for record in records[-limit:]] if limit else [asdict(r) for r in records]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._calls.clear()
            self._faults.clear()
            self.peak_in_flight = self.in_flight
            self.rejected_over_limit = 0
