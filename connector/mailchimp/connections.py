"""The connection cap: at most ``mailchimp.max_connections`` requests in flight, process-wide.

Mailchimp allows 10 simultaneous connections per *user*, shared with every other tool on the account,
and answers 429 beyond that. Build one :class:`ConnectionCap` in the composition root and pass it to
every :class:`~connector.mailchimp.gateway.MailchimpGateway` of the process (explicit sharing). A
gateway built without one takes the process-wide cap registered for its API key (:func:`shared_cap`),
so two gateways for the same account can never exceed the limit together either.
"""

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connector.errors import ConfigError

HARD_LIMIT = 10


class ConnectionCap:
    """A bounded semaphore that also records how many calls are in flight and the peak."""

    def __init__(self, limit: int) -> None:
        if not 1 <= limit <= HARD_LIMIT:
            raise ConfigError(f"mailchimp.max_connections: must be 1..{HARD_LIMIT}, got {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one connection slot for the duration of one HTTP request (blocks while all are taken)."""
        with self._slots:
            self._enter()
            try:
                yield
            finally:
                self._leave()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak(self) -> int:
        return self._peak

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


_registry: dict[str, ConnectionCap] = {}
_registry_lock = threading.Lock()


def shared_cap(api_key: str, limit: int) -> ConnectionCap:
    """The process-wide cap for this API key (created on first use; keyed by a hash of the key)."""
    fingerprint = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
    with _registry_lock:
        cap = _registry.setdefault(fingerprint, ConnectionCap(limit))
    if cap.limit != limit:
        raise ConfigError(
            f"mailchimp.max_connections: {limit} conflicts with {cap.limit} already in use "
            "for this API key in this process"
        )
    return cap
