"""The process's Mailchimp call counters (:func:`process_totals`) as Prometheus counters.

One process: :class:`GatewayTotalsCollector` reads them at scrape. Several worker processes
(prometheus_client's multiprocess mode): :func:`forward_totals_to_multiprocess` adds every count to
Prometheus counters whose values every worker writes to the shared directory, so any worker's ``/metrics``
shows the sum.
"""

import threading
from collections.abc import Iterator, Mapping

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from connector.mailchimp.stats import GatewayStats, process_totals

PREFIX = "consent_sync_mailchimp"
HELP = {
    "calls": "Mailchimp HTTP calls made, retries included, by endpoint.",
    "retries": "Mailchimp calls retried after a retryable answer, by endpoint.",
    "throttles": "Mailchimp answers that throttled us (429, body-less 403), by endpoint.",
    "failures": "Mailchimp calls that failed after their last attempt, by endpoint.",
}
_forwarded: dict[str, Counter] = {}
_forwarding = threading.Lock()


def forward_totals_to_multiprocess() -> None:
    """From now on, add every count of :func:`process_totals` to multiprocess counters (once per process)."""
    with _forwarding:
        if _forwarded:
            return
        for name, documentation in HELP.items():
            _forwarded[name] = Counter(f"{PREFIX}_{name}", documentation, ["endpoint"], registry=None)
    process_totals().forward_to(lambda name, endpoint: _forwarded[name].labels(endpoint).inc())


class GatewayTotalsCollector(Collector):
    """Calls, retries, throttles (429 and body-less 403) and failures per endpoint template."""

    def __init__(self, totals: GatewayStats | None = None) -> None:
        self._totals = totals if totals is not None else process_totals()

    def collect(self) -> Iterator[CounterMetricFamily]:
        snapshot = self._totals.snapshot()
        yield _family("calls", HELP["calls"], snapshot.calls)
        yield _family("retries", HELP["retries"], snapshot.retries)
        yield _family("throttles", HELP["throttles"], snapshot.throttles)
        yield _family("failures", HELP["failures"], snapshot.failures)


def _family(name: str, documentation: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=["endpoint"])
    for endpoint, count in sorted(counts.items()):
        family.add_metric([endpoint], count)
    return family
