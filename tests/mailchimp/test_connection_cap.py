"""The connection cap: never more than ``max_connections`` requests in flight, whatever the threads."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import responses

from connector.mailchimp import ConnectionCap, MailchimpGateway

from .conftest import BASE, fast_settings


class InFlightMeter:
    """A slow fake Mailchimp endpoint that records the most requests it ever saw at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.current = 0
        self.peak = 0
        self.served = 0
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(self.delay)
        with self._lock:
            self.current -= 1
            self.served += 1
        return 200, {"Content-Type": "application/json"}, '{"health_status": "Everything\'s Chimpy!"}'


@pytest.mark.parametrize("limit", [1, 4, 8])
def test_thirty_threads_never_exceed_the_cap(rsps: responses.RequestsMock, limit: int) -> None:
    meter = InFlightMeter(delay=0.02)
    rsps.add_callback(responses.GET, f"{BASE}/ping", callback=meter)
    gateway = MailchimpGateway(fast_settings(max_connections=limit), cap=ConnectionCap(limit))

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda _: gateway.ping(), range(60)))

    assert answers == ["Everything's Chimpy!"] * 60
    assert meter.served == 60
    assert meter.peak <= limit
    assert meter.peak == limit  # the cap is used, not just respected
    assert gateway.cap.peak == limit
    assert gateway.cap.in_flight == 0
    assert gateway.stats.snapshot().peak_in_flight <= limit


def test_gateways_sharing_one_cap_stay_under_it_together(rsps: responses.RequestsMock) -> None:
    meter = InFlightMeter(delay=0.02)
    rsps.add_callback(responses.GET, f"{BASE}/ping", callback=meter)
    cap = ConnectionCap(3)
    gateways = [MailchimpGateway(fast_settings(max_connections=3), cap=cap) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(lambda i: gateways[i % 3].ping(), range(45)))

    assert meter.peak == 3
    assert cap.peak == 3


def test_a_slot_is_not_held_while_sleeping_between_retries(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{BASE}/ping", status=429, body="", headers={"Retry-After": "0.3"})
    rsps.get(f"{BASE}/ping", json={"health_status": "ok"})
    cap = ConnectionCap(1)
    gateway = MailchimpGateway(fast_settings(max_connections=1), cap=cap)
    waiting = threading.Thread(target=gateway.ping)
    waiting.start()
    time.sleep(0.1)
    assert cap.in_flight == 0  # the first thread is backing off and left the slot free
    waiting.join()
