"""``consent-sync daemon`` (the scheduler) and ``consent-sync run`` (HTTP service and scheduler together)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from connector.cli import shell

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from connector.daemon.service import Daemon
    from connector.services.context import AppContext

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
    """Run the scheduler: syncs, reconciliations and housekeeping, coordinated between replicas.

    SIGTERM or SIGINT stops it gracefully: exit 0 within schedule.shutdown_timeout_seconds.
    """
    from connector.daemon import process

    ctx = _start(migrate)
    process.check_in_background(process.doctor_of(ctx))
    registry = process.own_registry()
    server = process.metrics_server(registry, metrics_host or ctx.settings.http.host, metrics_port)
    with _scheduler(ctx, registry) as scheduler:
        process.stop_on_signals(scheduler.request_stop)
        scheduler.start()
        while not scheduler.wait(1.0):
            pass
        clean = scheduler.stop(ctx.settings.schedule.shutdown_timeout_seconds)
    if server is not None:
        server.close()
    process.exit_process(clean)


def run(
    host: str | None = typer.Option(None, "--host", help="Address of the HTTP service (default: http.host)."),
    port: int | None = typer.Option(None, "--port", help="Port of the HTTP service (default: http.port)."),
    metrics_port: int = MetricsPortOption,
    migrate: bool = MigrateOption,
) -> None:
    """Run the HTTP service and the scheduler in one process (small installations).

    The daemon's metrics join the service's /metrics; --metrics-port is used only if the service has none.
    """
    import uvicorn

    from connector.api.app import create_app
    from connector.daemon import process

    ctx = _start(migrate)
    doctor = process.doctor_of(ctx)
    process.check_in_background(doctor)  # /readyz shows this first report
    app = shell.run(lambda: create_app(ctx, doctor))
    shared = process.registry_of(app)
    registry = shared or process.own_registry()
    bind_host = host or ctx.settings.http.host
    server = process.metrics_server(registry, bind_host, metrics_port) if shared is None else None
    timeout = ctx.settings.schedule.shutdown_timeout_seconds
    config = uvicorn.Config(
        app,
        host=bind_host,
        port=port or ctx.settings.http.port,
        log_config=None,
        access_log=False,  # webhook URLs carry a secret
        timeout_graceful_shutdown=timeout,
        lifespan="on",
    )
    with _scheduler(ctx, registry) as scheduler:
        process.stop_on_signals(scheduler.request_stop)  # uvicorn hands the signals it captured back
        scheduler.start()
        try:
            process.StoppingServer(config, scheduler.request_stop).run()
        finally:
            clean = scheduler.stop(timeout)
    if server is not None:
        server.close()
    process.exit_process(clean)


def _start(migrate: bool) -> "AppContext":
    import logging

    from connector.daemon.process import migrate_at_start
    from connector.doctor.startup import require_usable_database
    from connector.services.context import build_context

    settings = shell.settings(service=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise
    if migrate:
        shell.run(lambda: migrate_at_start(settings))
    shell.run(lambda: require_usable_database(settings))
    return shell.run(lambda: build_context(settings))


@contextmanager
def _scheduler(ctx: "AppContext", registry: "CollectorRegistry") -> "Iterator[Daemon]":
    """The process's daemon; a configuration error while opening it is a one-line error."""
    from connector.daemon.process import daemon_of

    opened = daemon_of(ctx, registry)
    scheduler = shell.run(opened.__enter__)
    try:
        yield scheduler
    finally:
        opened.__exit__(None, None, None)
