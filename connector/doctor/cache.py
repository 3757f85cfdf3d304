"""The doctor's last report for ``/readyz``: probes read it; a stale one is refreshed in the background.

A readiness probe never waits for Mailchimp and never makes a Mailchimp call itself: the first probe
finds no report yet (``pending``) and starts the first check; later probes get the last report, and one
older than ``max_age_seconds`` starts a single refresh in a background thread.
"""

import threading
import time
from collections.abc import Callable

import structlog

from connector.doctor.report import DoctorReport

log = structlog.get_logger(__name__)

READY_CHECK_MAX_AGE_SECONDS = 600.0
"""How old the report ``/readyz`` shows may get before a probe starts a new check."""


class DoctorCache:
    def __init__(
        self,
        check: Callable[[], DoctorReport],
        max_age_seconds: float = READY_CHECK_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._report: DoctorReport | None = None
        self._checked_at: float | None = None
        self._refreshing: threading.Thread | None = None

    def latest(self) -> DoctorReport | None:
        """The last report (``None`` before the first finished); starts a refresh when it is stale."""
        with self._lock:
            stale = self._checked_at is None or self._clock() - self._checked_at >= self._max_age
            report = self._report
        if stale:
            self.start()
        return report

    def start(self, then: Callable[[DoctorReport], None] | None = None) -> None:
        """Refresh in a background thread, then hand the report to ``then``; nothing if one is running."""
        with self._lock:
            if self._refreshing is not None:
                return
            self._refreshing = threading.Thread(
                target=self._refresh_quietly, args=(then,), name="doctor", daemon=True
            )
            self._refreshing.start()

    def refresh(self) -> DoctorReport:
        """Check now, in the caller's thread, and keep the report."""
        report = self._check()
        with self._lock:
            self._report, self._checked_at = report, self._clock()
        return report

    def join(self) -> None:
        """Wait for a background refresh in progress (tests, shutdown)."""
        with self._lock:
            running = self._refreshing
        if running is not None:
            running.join()

    def _refresh_quietly(self, then: Callable[[DoctorReport], None] | None) -> None:
        try:
            report = self.refresh()
            if then is not None:
                then(report)
        except Exception as exc:  # a check that crashes must not kill readiness; the next probe retries
            log.warning("doctor.check.crashed", error=type(exc).__name__)
        finally:
            with self._lock:
                self._refreshing = None
