"""The sync engine's own CPU per contact on a full initial sync, per phase, with an optional profile.

Seeds N contacts (``tests/sync/bulk.py``) into a fresh SQLite file or PostgreSQL database, starts the
sandbox in its own process without injected latency (the engine's CPU is the figure here, not the wall
time: ``bench/sync_bench.py`` measures that), runs one streamed full sync and prints, per phase of
``SyncReport.timings``, the thread CPU in µs per contact. ``--profile FILE`` writes a cProfile (of
thread CPU time) of the run's thread and of the sending thread (where answers are recorded) and prints
the top functions.

Run: .venv/bin/python bench/engine_bench.py [--n 10000] [--db sqlite|URL] [--profile out.prof]
"""

import argparse
import cProfile
import multiprocessing
import pstats
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import serve
from connector.services.context import AppContext, system_clock
from connector.settings import load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.sync import stream_apply
from connector.sync.connect import open_gateway
from connector.sync.run import sync_audience
from tests.sync.bulk import seed_contacts

ENGINE = (
    "load",
    "decide",
    "desire",
    "diff",
    "guard",
    "persist",
    "apply: grouping steps into calls",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument(
        "--db", default="sqlite", help="sqlite, or a PostgreSQL server URL (a database is made)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--profile", default=None, help="write a cProfile here and print its top")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, _database(args.db, Path(folder)) as url, _sandbox() as base:
        ctx = _context(url, Path(folder), base, args.connections)
        seed_contacts(ctx.engine, args.n, ctx.now() - timedelta(days=1))
        profiles = _profiling(args.profile is not None)
        with open_gateway(ctx.settings.mailchimp) as gateway:
            started, cpu = time.perf_counter(), time.process_time()
            if profiles:
                profiles[0].enable()
            report = sync_audience(ctx, gateway, "main")
            if profiles:
                profiles[0].disable()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            calls = gateway.stats.snapshot().total_calls
        ctx.engine.dispose()
    print(
        f"engine_bench: N = {args.n:,}, {args.db.split('://')[0]}, {calls} calls, "
        f"wall {wall:.1f} s, CPU {cpu:.1f} s"
    )
    total = 0.0
    for phase, elapsed in report.timings.phases().items():
        engine = phase in ENGINE or phase.endswith(": recording answers")
        total += elapsed.cpu_s if engine else 0.0
        mark = "*" if engine else " "
        print(
            f"  {mark} {phase:<40} {elapsed.cpu_s / args.n * 1e6:8.1f} µs/contact CPU ({elapsed.cpu_s:.2f} s)"
        )
    print(f"  engine total (*): {total / args.n * 1e6:.1f} µs/contact ({total:.2f} s)")
    if profiles:
        stats = pstats.Stats(profiles[0])
        for extra in profiles[1:]:
            stats.add(extra)
        stats.dump_stats(args.profile)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)


def _profiling(enabled: bool) -> list[cProfile.Profile]:
    """cProfile on this thread and on every sending thread (``StreamSender._run``)."""
    if not enabled:
        return []
    profiles = [cProfile.Profile(time.thread_time)]
    original = stream_apply.StreamSender._run

    def profiled(self: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    stream_apply.StreamSender._run = profiled  # type: ignore[method-assign]
    return profiles


@contextmanager
def _database(db: str, folder: Path) -> Iterator[str]:
    if db == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"engine_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{db.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def _sandbox() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    knobs = SandboxKnobs(latency_ms=0, latency_per_member_ms=0, request_log_size=100)
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(knobs, "127.0.0.1", port, _silent), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/3.0"
    finally:
        process.terminate()
        process.join(10)


def _silent(_: str) -> None:
    pass


def _context(url: str, folder: Path, base_url: str, connections: int) -> AppContext:
    upgrade(url)
    settings = load_settings(
        None,
        database={"url": url},
        mailchimp={"base_url": base_url, "max_connections": connections},
        security={"suppression_key_file": str(folder / "bench.key")},
        sync={"max_destructive_fraction": 1.0},
    )
    return AppContext(
        settings=settings, engine=make_engine(url), suppression_key=b"bench", clock=system_clock
    )


if __name__ == "__main__":
    main()
