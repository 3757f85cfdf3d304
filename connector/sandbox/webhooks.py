"""Webhook delivery: a worker thread POSTs each event to its target and retries non-2xx with backoff.

Mailchimp retries failed deliveries "at increasing intervals over the course of 75 minutes" and stops
for good on 410; the sandbox follows :data:`~connector.sandbox.assumptions.WEBHOOK_RETRY_DELAYS_S`,
multiplied by ``webhook_time_scale`` so that tests see the whole schedule in moments.
"""

import heapq
import ipaddress
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog

from connector.sandbox.assumptions import WEBHOOK_RETRY_DELAYS_S
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.webhook_events import signature

log = structlog.get_logger("connector.sandbox.webhooks")
USER_AGENT = "MailChimp"
VALIDATOR_USER_AGENT = "MailChimp.com WebHook Validator"


@dataclass(frozen=True, slots=True)
class Delivery:
    list_id: str
    webhook_id: str
    url: str
    secret: str | None
    event_type: str
    body: bytes
    attempt: int = 1
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers (Transactional's ``X-Mandrill-Signature`` and user agent)."""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    at: str
    list_id: str
    webhook_id: str
    event_type: str
    attempt: int
    status: int | None
    error: str | None
    delivered: bool


def is_local_url(url: str) -> bool:
    """Whether ``url`` targets this machine or a private network (the sandbox never calls the internet)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def check_url(url: str, timeout_s: float) -> int | None:
    """Mailchimp's GET check of a new webhook URL: the status answered, or ``None`` if unreachable."""
    try:
        response = requests.get(url, timeout=timeout_s, headers={"User-Agent": VALIDATOR_USER_AGENT})
    except requests.RequestException:
        return None
    return response.status_code


def retry_delay(attempt: int, scale: float) -> float:
    """Seconds to wait after failed attempt number ``attempt``."""
    index = min(attempt, len(WEBHOOK_RETRY_DELAYS_S)) - 1
    return WEBHOOK_RETRY_DELAYS_S[index] * scale


class WebhookDispatcher:
    """One worker thread with a schedule of due deliveries."""

    def __init__(self, knobs: SandboxKnobs, on_gone: Callable[[str, str], None]) -> None:
        self._knobs = knobs
        self._on_gone = on_gone
        self._due: list[tuple[float, int, Delivery]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._records: list[DeliveryRecord] = []
        self._busy = False
        self._stopping = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._session.close()

    def submit(self, delivery: Delivery, delay_s: float = 0.0) -> None:
        with self._condition:
            heapq.heappush(self._due, (time.monotonic() + delay_s, next(self._sequence), delivery))
            self._condition.notify_all()

    def records(self) -> list[dict[str, Any]]:
        with self._condition:
            return [asdict(record) for record in self._records]

    def pending(self) -> int:
        with self._condition:
            return len(self._due) + int(self._busy)

    def clear(self) -> None:
        with self._condition:
            self._due.clear()
            self._records.clear()

    def _run(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            try:
                self._attempt(delivery)
            finally:
                with self._condition:
                    self._busy = False

    def _next_due(self) -> Delivery | None:
        with self._condition:
            while not self._stopping:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    self._busy = True
                    return heapq.heappop(self._due)[2]
                self._condition.wait(timeout=wait)
            return None

    def _attempt(self, delivery: Delivery) -> None:
        status, error = self._post(delivery)
        self._record(delivery, status, error)
        if status is not None and 200 <= status < 300:
            return
        if status == 410:
            self._on_gone(delivery.list_id, delivery.webhook_id)
        elif delivery.attempt < self._knobs.webhook_max_attempts:
            delay = retry_delay(delivery.attempt, self._knobs.webhook_time_scale)
            self.submit(replace(delivery, attempt=delivery.attempt + 1), delay)

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
        if delivery.secret:
            headers["X-Mailchimp-Signature"] = signature(delivery.secret, int(time.time()), delivery.body)
        headers.update(dict(delivery.headers))
        try:
            response = self._session.post(
                delivery.url,
                data=delivery.body,
                headers=headers,
                timeout=self._knobs.webhook_timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return response.status_code, None

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        delivered = status is not None and 200 <= status < 300
        record = DeliveryRecord(
            at=datetime.now(UTC).isoformat(),
            list_id=delivery.list_id,
            webhook_id=delivery.webhook_id,
            event_type=delivery.event_type,
            attempt=delivery.attempt,
            status=status,
            error=error,
            delivered=delivered,
        )
        with self._condition:
            self._records.append(record)
        log.info(
            "sandbox.webhook.attempted",
            webhook_id=delivery.webhook_id,
            event_type=delivery.event_type,
            attempt=delivery.attempt,
            status=status,
            error=error,
        )
