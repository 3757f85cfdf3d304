"""The daemon as a process: its metrics endpoint, its one gateway, signals, migrations and exit code.

``consent-sync daemon`` and ``consent-sync run`` compose these. Both stop gracefully on SIGTERM or SIGINT:
nothing new is scheduled, the call in flight finishes and is recorded, the rest of the run stays pending
for the next start, and the process exits 0 within ``schedule.shutdown_timeout_seconds`` (1 if jobs were
still running then).
"""

import hashlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from connector.daemon.leader import leadership_for
from connector.daemon.metrics import DaemonMetrics, MetricsServer
from connector.daemon.service import Daemon
from connector.doctor import diagnose_mailchimp
from connector.doctor.cache import DoctorCache
from connector.doctor.startup import check_in_background
from connector.mailchimp.metrics import GatewayTotalsCollector
from connector.services.context import AppContext
from connector.settings import Settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.sync.connect import open_gateway

log = structlog.get_logger("connector.daemon")


def own_registry() -> CollectorRegistry:
    """A metrics registry of the daemon's own (with the gateway's call totals)."""
    registry = CollectorRegistry()
    registry.register(GatewayTotalsCollector())
    return registry


def registry_of(app: object) -> CollectorRegistry | None:
    """The HTTP service's metrics registry (``app.state.metrics.registry``), if it has one."""
    registry = getattr(getattr(getattr(app, "state", None), "metrics", None), "registry", None)
    return registry if isinstance(registry, CollectorRegistry) else None


class StoppingServer(uvicorn.Server):
    """uvicorn that also tells the scheduler to stop as soon as it receives SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


__all__ = ["check_in_background"]


def doctor_of(ctx: AppContext) -> DoctorCache:
    """The process's doctor: Mailchimp checks cached for /readyz and the start check."""
    return DoctorCache(lambda: diagnose_mailchimp(ctx.settings))


def migrate_at_start(settings: Settings) -> None:
    """``db upgrade``; on PostgreSQL under an advisory lock, so replicas starting together take turns."""
    url = settings.database.url
    if not url.startswith("postgresql"):
        upgrade(url)
        return
    key = int.from_bytes(hashlib.sha256(b"consent-sync:migrate").digest()[:8], "big", signed=True)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            connection.commit()
            upgrade(url)
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()
    finally:
        engine.dispose()
    log.info("daemon.migrated")


@contextmanager
def daemon_of(ctx: AppContext, registry: CollectorRegistry) -> Iterator[Daemon]:
    """The process's daemon with its one gateway (so one connection cap for every job)."""
    gateway = open_gateway(ctx.settings.mailchimp)
    try:
        yield Daemon(ctx, gateway, DaemonMetrics.create(registry), leadership_for(ctx.engine))
    finally:
        gateway.close()


def metrics_server(registry: CollectorRegistry, host: str, port: int) -> MetricsServer | None:
    """The daemon's own /metrics endpoint; ``None`` when ``port`` is 0."""
    if port == 0:
        return None
    server = MetricsServer(registry, host, port)
    log.info("daemon.metrics.serving", host=host, port=server.port)
    return server


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT ask ``stop()``."""

    def handle(_sig: int, _frame: FrameType | None) -> None:
        stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


def exit_process(clean: bool) -> None:
    """0 after a clean stop; 1 when jobs were still running at the deadline (their progress is saved)."""
    if clean:
        raise SystemExit(0)
    log.error("daemon.stop.timeout")
    sys.stderr.flush()
    os._exit(1)
