"""The process's Mailchimp call counters (:func:`process_totals`) as Prometheus counters, read at scrape."""

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from connector.mailchimp.stats import GatewayStats, process_totals

PREFIX = "consent_sync_mailchimp"


class GatewayTotalsCollector(Collector):
    """Calls, retries, throttles (429 and body-less 403) and failures per endpoint template."""

    def __init__(self, totals: GatewayStats | None = None) -> None:
        self._totals = totals if totals is not None else process_totals()

    def collect(self) -> Iterator[CounterMetricFamily]:
        snapshot = self._totals.snapshot()
        yield _family("calls", "Mailchimp HTTP calls made, retries included, by endpoint.", snapshot.calls)
        yield _family(
            "retries", "Mailchimp calls retried after a retryable answer, by endpoint.", snapshot.retries
        )
        yield _family(
            "throttles",
            "Mailchimp answers that throttled us (429, body-less 403), by endpoint.",
            snapshot.throttles,
        )
        yield _family(
            "failures",
            "Mailchimp calls that failed after their last attempt, by endpoint.",
            snapshot.failures,
        )


def _family(name: str, documentation: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=["endpoint"])
    for endpoint, count in sorted(counts.items()):
        family.add_metric([endpoint], count)
    return family
