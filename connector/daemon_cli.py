"""``consent-sync daemon`` (the scheduler) and ``consent-sync run`` (HTTP service and scheduler together).

Registered in ``connector.cli``. Both stop gracefully on SIGTERM or SIGINT: nothing new is scheduled, the
call in flight finishes and is recorded, the rest of the run stays pending for the next start, and the
process exits 0 within ``schedule.shutdown_timeout_seconds`` (1 if jobs were still running then).
"""

import hashlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import structlog
import typer
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from connector.daemon.leader import leadership_for
from connector.daemon.metrics import DaemonMetrics, MetricsServer
from connector.daemon.service import Daemon
from connector.doctor import diagnose_mailchimp
from connector.doctor.cache import DoctorCache
from connector.doctor.startup import check_in_background, require_usable_database
from connector.mailchimp.metrics import GatewayTotalsCollector
from connector.services.context import AppContext, build_context
from connector.settings import Settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.sync.connect import open_gateway

log = structlog.get_logger(__name__)

MetricsPortOption = typer.Option(
    9108,
    "--metrics-port",
    envvar="CONSENT_SYNC_METRICS_PORT",
    help="Port of the daemon's Prometheus endpoint (/metrics, /healthz); 0 turns it off.",
)
MetricsHostOption = typer.Option(
    None, "--metrics-host", help="Address of the metrics endpoint (default: http.host)."
)
MigrateOption = typer.Option(
    False,
    "--migrate/--no-migrate",
    envvar="CONSENT_SYNC_MIGRATE_ON_START",
    help="Run `consent-sync db upgrade` first (one replica at a time on PostgreSQL).",
)


def daemon(
    metrics_port: int = MetricsPortOption,
    metrics_host: str | None = MetricsHostOption,
    migrate: bool = MigrateOption,
) -> None:
    """Run the scheduler: syncs, reconciliations and housekeeping, coordinated between replicas."""
    ctx = _start(migrate)
    check_in_background(_doctor(ctx))
    registry = _own_registry()
    server = _metrics_server(registry, metrics_host or ctx.settings.http.host, metrics_port)
    with _daemon(ctx, registry) as scheduler:
        _on_signals(scheduler.request_stop)
        scheduler.start()
        while not scheduler.wait(1.0):
            pass
        clean = scheduler.stop(ctx.settings.schedule.shutdown_timeout_seconds)
    if server is not None:
        server.close()
    _exit(clean)


def run(
    host: str | None = typer.Option(None, "--host", help="Address of the HTTP service (default: http.host)."),
    port: int | None = typer.Option(None, "--port", help="Port of the HTTP service (default: http.port)."),
    metrics_port: int = MetricsPortOption,
    migrate: bool = MigrateOption,
) -> None:
    """Run the HTTP service and the scheduler in one process (small installations).

    The daemon's metrics join the service's /metrics; --metrics-port is used only if the service has none.
    """
    from connector import cli
    from connector.api.app import create_app

    ctx = _start(migrate)
    doctor = _doctor(ctx)
    check_in_background(doctor)  # /readyz shows this first report
    app = cli._run(lambda: create_app(ctx, doctor))
    shared = _registry_of(app)
    registry = shared or _own_registry()
    own_port = shared is None
    server = _metrics_server(registry, host or ctx.settings.http.host, metrics_port) if own_port else None
    timeout = ctx.settings.schedule.shutdown_timeout_seconds
    config = uvicorn.Config(
        app,
        host=host or ctx.settings.http.host,
        port=port or ctx.settings.http.port,
        log_config=None,
        access_log=False,  # webhook URLs carry a secret
        timeout_graceful_shutdown=timeout,
        lifespan="on",
    )
    with _daemon(ctx, registry) as scheduler:
        _on_signals(scheduler.request_stop)  # uvicorn hands the signals it captured back to these
        scheduler.start()
        try:
            _StoppingServer(config, scheduler.request_stop).run()
        finally:
            clean = scheduler.stop(timeout)
    if server is not None:
        server.close()
    _exit(clean)


def _own_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(GatewayTotalsCollector())
    return registry


def _registry_of(app: object) -> CollectorRegistry | None:
    """The HTTP service's metrics registry (``app.state.metrics.registry``), if it has one."""
    registry = getattr(getattr(getattr(app, "state", None), "metrics", None), "registry", None)
    return registry if isinstance(registry, CollectorRegistry) else None


class _StoppingServer(uvicorn.Server):
    """uvicorn that also tells the scheduler to stop as soon as it receives SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def _start(migrate: bool) -> AppContext:
    from connector import cli

    settings = cli._settings()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise
    if migrate:
        cli._run(lambda: migrate_at_start(settings))
    cli._run(lambda: require_usable_database(settings))
    return cli._run(lambda: build_context(settings))


def _doctor(ctx: AppContext) -> DoctorCache:
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
def _daemon(ctx: AppContext, registry: CollectorRegistry) -> Iterator[Daemon]:
    """The process's daemon with its one gateway (so one connection cap for every job)."""
    from connector import cli

    gateway = cli._run(lambda: open_gateway(ctx.settings.mailchimp))
    try:
        yield cli._run(
            lambda: Daemon(ctx, gateway, DaemonMetrics.create(registry), leadership_for(ctx.engine))
        )
    finally:
        gateway.close()


def _metrics_server(registry: CollectorRegistry, host: str, port: int) -> MetricsServer | None:
    if port == 0:
        return None
    server = MetricsServer(registry, host, port)
    log.info("daemon.metrics.serving", host=host, port=server.port)
    return server


def _on_signals(stop: Callable[[], None]) -> None:
    def handle(_sig: int, _frame: FrameType | None) -> None:
        stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


def _exit(clean: bool) -> None:
    """0 after a clean stop; 1 when jobs were still running at the deadline (their progress is saved)."""
    if clean:
        raise SystemExit(0)
    log.error("daemon.stop.timeout")
    sys.stderr.flush()
    os._exit(1)
