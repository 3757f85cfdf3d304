"""The connection cap: never more than ``max_connections`` requests in flight, whatever the threads.

Nothing here depends on the machine's speed: the fake endpoint lets requests through in groups of
exactly ``limit`` (a barrier), so the cap is shown to be *used* without hoping that threads pile up
within some delay, and the back-off test holds the retrying thread at its retry log line instead of
sleeping and hoping it is backing off by then. ``SAFETY_SECONDS`` only bounds how long a broken
implementation can hang the test; a passing run never waits for it.
"""

import threading
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import responses
import structlog

from connector.mailchimp import ConnectionCap, MailchimpGateway

from .conftest import BASE, fast_settings

SAFETY_SECONDS = 30.0


class InFlightMeter:
    """A fake Mailchimp endpoint that serves requests in groups of ``group`` held in flight together,
    and records the most requests it ever saw at once."""

    def __init__(self, group: int) -> None:
        self.current = 0
        self.peak = 0
        self.served = 0
        self._lock = threading.Lock()
        self._together = threading.Barrier(group)

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        self._together.wait(timeout=SAFETY_SECONDS)  # BrokenBarrierError if `group` never arrive
        with self._lock:
            self.current -= 1
            self.served += 1
        return 200, {"Content-Type": "application/json"}, '{"health_status": "Everything\'s Chimpy!"}'


@pytest.mark.parametrize("limit", [1, 4, 8])
def test_thirty_threads_never_exceed_the_cap(rsps: responses.RequestsMock, limit: int) -> None:
    meter = InFlightMeter(group=limit)
    rsps.add_callback(responses.GET, f"{BASE}/ping", callback=meter)
    gateway = MailchimpGateway(fast_settings(max_connections=limit), cap=ConnectionCap(limit))
    calls = 120  # a multiple of every limit, so the last group fills up too

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda _: gateway.ping(), range(calls)))

    assert answers == ["Everything's Chimpy!"] * calls
    assert meter.served == calls
    assert meter.peak <= limit
    assert meter.peak == limit  # the cap is used, not just respected
    assert gateway.cap.peak == limit
    assert gateway.cap.in_flight == 0
    assert gateway.stats.snapshot().peak_in_flight <= limit


def test_gateways_sharing_one_cap_stay_under_it_together(rsps: responses.RequestsMock) -> None:
    meter = InFlightMeter(group=3)
    rsps.add_callback(responses.GET, f"{BASE}/ping", callback=meter)
    cap = ConnectionCap(3)
    gateways = [MailchimpGateway(fast_settings(max_connections=3), cap=cap) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(lambda i: gateways[i % 3].ping(), range(45)))

    assert meter.served == 45
    assert meter.peak == 3
    assert cap.peak == 3
    assert cap.in_flight == 0


class HeldAtRetry:
    """A log sink that stops the retrying thread at its ``mailchimp.retry`` line (the failed attempt is
    over, the back-off sleep not begun) until the test releases it."""

    def __init__(self) -> None:
        self.backing_off = threading.Event()
        self.released = threading.Event()

    def __call__(self, logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") == "mailchimp.retry":
            self.backing_off.set()
            self.released.wait(timeout=SAFETY_SECONDS)
        raise structlog.DropEvent


@contextmanager
def logging_to(sink: HeldAtRetry) -> Iterator[None]:
    previous = structlog.get_config()["processors"]
    structlog.configure(processors=[sink])
    try:
        yield
    finally:
        structlog.configure(processors=previous)


def test_a_slot_is_not_held_while_sleeping_between_retries(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{BASE}/ping", status=429, body="", headers={"Retry-After": "0"})
    rsps.get(f"{BASE}/ping", json={"health_status": "second caller"})
    rsps.get(f"{BASE}/ping", json={"health_status": "first caller, retried"})
    cap = ConnectionCap(1)
    gateway = MailchimpGateway(fast_settings(max_connections=1), cap=cap)
    sink = HeldAtRetry()
    answers: list[str] = []

    with logging_to(sink):
        waiting = threading.Thread(target=lambda: answers.append(gateway.ping()))
        waiting.start()
        assert sink.backing_off.wait(timeout=SAFETY_SECONDS)
        assert cap.in_flight == 0  # the first thread is backing off and left the slot free
        assert gateway.ping() == "second caller"  # so another caller gets the only slot meanwhile
        sink.released.set()
        waiting.join()

    assert answers == ["first caller, retried"]
    assert cap.peak == 1
