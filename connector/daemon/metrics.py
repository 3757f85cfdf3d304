"""Prometheus metrics of the daemon, and a small HTTP endpoint for them (``/metrics``, ``/healthz``).

Built in the composition root on a registry it is given; nothing is registered at import time.
"""

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from connector.sync.progress import SyncProgress

PREFIX = "consent_sync"
_PROGRESS = (
    ("planned_contacts", "Contacts the audience's current (or last) sync run has planned so far"),
    ("planned_operations", "Operations the current (or last) sync run has planned so far"),
    ("estimated_calls", "Calls the operations planned so far need"),
    ("sent_calls", "Calls the current (or last) sync run has sent and had answered"),
    ("sent_operations", "Operations whose call was sent and answered (confirmed, rejected, opted out)"),
    ("confirmed_operations", "Operations Mailchimp confirmed"),
    ("planning_done", "1 once the whole audience is planned and the guard has judged the plan"),
    ("eta_seconds", "Seconds to go at the rate calls went so far (NaN while unknown)"),
)


class ProgressGauges:
    """``consent_sync_sync_<measure>{audience}``: the live :class:`SyncProgress` of each audience's
    current sync run, read when scraped; after a run, its last state (until the next run starts)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauges = {
            name: Gauge(f"{PREFIX}_sync_{name}", text, labelnames=("audience",), registry=registry)
            for name, text in _PROGRESS
        }

    def watch(self, audience: str, progress: SyncProgress) -> None:
        values = {
            "planned_contacts": lambda: float(progress.planned_contacts),
            "planned_operations": lambda: float(progress.planned_operations),
            "estimated_calls": lambda: float(progress.estimated_calls),
            "sent_calls": lambda: float(progress.sent_calls),
            "sent_operations": lambda: float(progress.sent_operations),
            "confirmed_operations": lambda: float(progress.confirmed_operations),
            "planning_done": lambda: float(progress.planning_done),
            "eta_seconds": lambda: _or_nan(progress.eta_seconds()),
        }
        for name, value in values.items():
            self.gauges[name].labels(audience).set_function(value)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(frozen=True, slots=True)
class DaemonMetrics:
    registry: CollectorRegistry
    leader: Gauge
    last_sync: Gauge
    last_reconcile: Gauge
    plan_size: Gauge
    drift: Gauge
    inbound_held: Gauge
    flagged_campaigns: Gauge
    runs: Counter
    calls: Counter
    errors: Counter
    duration: Histogram
    progress: ProgressGauges

    @classmethod
    def create(cls, registry: CollectorRegistry) -> "DaemonMetrics":
        def gauge(name: str, text: str, labels: Iterable[str] = ("audience",)) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", text, labelnames=tuple(labels), registry=registry)

        def counter(name: str, text: str, labels: Iterable[str]) -> Counter:
            return Counter(f"{PREFIX}_{name}", text, labelnames=tuple(labels), registry=registry)

        return cls(
            registry=registry,
            leader=gauge("daemon_leader", "1 while this process is the scheduler leader, else 0", ()),
            last_sync=gauge(
                "last_successful_sync_timestamp_seconds", "Unix time the audience's last sync run finished"
            ),
            last_reconcile=gauge(
                "last_successful_reconcile_timestamp_seconds", "Unix time of the audience's last reconcile"
            ),
            plan_size=gauge("last_plan_size", "Operations in the audience's last sync plan"),
            drift=gauge("drift_members", "Members whose Mailchimp state differed at the last reconcile"),
            inbound_held=gauge(
                "last_reconcile_held_members",
                "Members whose opt-out, bounce or deletion the last reconcile held back (inbound guard)",
            ),
            flagged_campaigns=gauge(
                "campaign_guard_flagged",
                "Unsent campaigns whose recipients are not only our marketing segments (campaign guard)",
            ),
            runs=counter(
                "daemon_sync_runs_total", "Sync runs by outcome (done, stopped)", ("audience", "outcome")
            ),
            calls=counter("daemon_api_calls_total", "Mailchimp calls made by sync runs", ("audience",)),
            errors=counter("daemon_errors_total", "Failed jobs by error class", ("audience", "job", "error")),
            duration=Histogram(
                f"{PREFIX}_sync_duration_seconds",
                "Wall time of sync runs",
                labelnames=("audience",),
                buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600),
                registry=registry,
            ),
            progress=ProgressGauges(registry),
        )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_app(registry: CollectorRegistry) -> WsgiApp:
    """``/healthz`` answers 200 while the process runs; every other path serves the metrics."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return app


class MetricsServer:
    """The metrics endpoint in a background thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server = make_server(
            host, port, metrics_app(registry), server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
