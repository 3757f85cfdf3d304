"""The chaos run's faults, at moments drawn from the seed, and the time the system takes to recover.

Kinds: ``kill -9`` of the daemon and of ``serve`` (each started again after a short pause, as a
supervisor would), every database session cut (``pg_terminate_backend``), a PostgreSQL server restart
(only on the private cluster), and an operator's mistake: ``audiences.main.list_id`` pointed at another,
empty list, the daemon and ``serve`` restarted with it, the nightly ``reconcile --full`` run, and then
the line put back. The sandbox's own faults (429, 500, timeouts) run all along.

Recovered means: ``serve`` ready, the daemon answering, and a sync run that started after the fault (after
the configuration was put back, for the list id) finished ``done``.
"""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import create_engine, select
from sqlmodel import col

from bench.chaos_processes import Managed, answers, run_cli, wait_until
from connector.store.sync_tables import SyncRunRow

KINDS = ("kill -9 daemon", "kill -9 serve", "connection loss", "server restart", "list_id changed")
RECOVERY_TIMEOUT_S = 120.0


class Database:
    """What the faults need of the database: cut every session, and (maybe) restart the server."""

    url: str

    def terminate_connections(self) -> int: ...

    def restart(self) -> None: ...

    can_restart: bool = False


@dataclass
class Recovery:
    kind: str
    at_s: float
    seconds: float | None = None
    note: str = ""


@dataclass
class Fleet:
    """The three processes, a lock that faults and the supervisor take, and exits nobody asked for."""

    sandbox: Managed
    serve: Managed
    daemon: Managed
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: threading.Event = field(default_factory=threading.Event)

    def supervise(self) -> None:
        """Start again any process that exited by itself (counted in ``unexpected_exits``)."""
        while not self.stopped.wait(0.5):
            with self.lock:
                for process in (self.sandbox, self.serve, self.daemon):
                    process.restart_if_exited()

    def kill_and_restart(self, process: Managed, pause: float) -> None:
        with self.lock:
            process.kill_9()
            time.sleep(pause)
            process.start()

    def restart(self, *processes: Managed) -> None:
        """Stop them all, then start them all at once (as a deployment of a new configuration)."""
        with self.lock:
            for process in processes:
                process.stop()
            for process in processes:
                process.launch()
            for process in processes:
                process.wait_ready()


@dataclass
class Injector:
    fleet: Fleet
    database: Database
    rng: random.Random
    environment: dict[str, str]
    point_at: Callable[[str], None]
    """Rewrites the configuration's ``list_id``."""
    list_ids: tuple[str, str]
    """The audience's list, and the other (empty) one the mistake points at."""
    recoveries: list[Recovery] = field(default_factory=list)
    reconcile_refused: bool | None = None
    reconcile_output: str = ""
    _watchers: list[threading.Thread] = field(default_factory=list)

    def schedule(self, duration: float, kills: int) -> list[tuple[float, str]]:
        """Every kind once and each ``kill -9`` ``kills`` times, in an order and at moments from the seed."""
        kinds = [k for k in KINDS if k != "server restart" or self.database.can_restart]
        kinds += ["kill -9 daemon", "kill -9 serve"] * (kills - 1)
        self.rng.shuffle(kinds)
        slots = len(kinds)
        return [
            ((0.05 + 0.8 * (n + self.rng.random() * 0.5) / slots) * duration, k) for n, k in enumerate(kinds)
        ]

    def run(self, plan: list[tuple[float, str]], started: float) -> None:
        """Each fault at its moment, but never before the system recovered from the one before (so
        that each recovery time is that fault's own)."""
        for offset, kind in plan:
            time.sleep(max(0.0, started + offset - time.monotonic()))
            self.inject(kind, time.monotonic() - started)
            self._watchers[-1].join(RECOVERY_TIMEOUT_S + 5)

    def inject(self, kind: str, at_s: float) -> None:
        since, note = datetime.now(UTC), ""
        if kind == "kill -9 daemon":
            self.fleet.kill_and_restart(self.fleet.daemon, self.rng.uniform(0.2, 1.0))
        elif kind == "kill -9 serve":
            self.fleet.kill_and_restart(self.fleet.serve, self.rng.uniform(0.2, 1.0))
        elif kind == "connection loss":
            note = f"{self.database.terminate_connections()} sessions cut"
        elif kind == "server restart":
            self.database.restart()
        else:
            since, note = self._wrong_list()
        self._watch(Recovery(kind, at_s, note=note), since)

    def _wrong_list(self) -> tuple[datetime, str]:
        right, wrong = self.list_ids
        self.point_at(wrong)
        self.fleet.restart(self.fleet.daemon, self.fleet.serve)
        nightly = run_cli(self.environment, "reconcile", "--full")
        self.reconcile_refused = nightly.returncode != 0
        lines = (nightly.stdout + nightly.stderr).strip().splitlines()
        self.reconcile_output = lines[-1] if lines else ""
        time.sleep(self.rng.uniform(1.0, 2.0))  # the operator notices
        self.point_at(right)
        since = datetime.now(UTC)
        self.fleet.restart(self.fleet.daemon, self.fleet.serve)
        return since, f"reconcile --full exit {nightly.returncode}; put back"

    def _watch(self, recovery: Recovery, since: datetime) -> None:
        self.recoveries.append(recovery)
        watcher = threading.Thread(target=self._measure, args=(recovery, since), daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def _measure(self, recovery: Recovery, since: datetime) -> None:
        started = time.monotonic() - (datetime.now(UTC) - since).total_seconds()
        engine = create_engine(self.database.url, pool_pre_ping=True)
        try:
            if wait_until(lambda: self._recovered(engine, since), RECOVERY_TIMEOUT_S, interval=0.1):
                recovery.seconds = time.monotonic() - started
        finally:
            engine.dispose()

    def _recovered(self, engine: object, since: datetime) -> bool:
        if not (answers(self.fleet.serve.ready_url) and answers(self.fleet.daemon.ready_url)):
            return False
        query = (
            select(col(SyncRunRow.id))
            .where(col(SyncRunRow.kind) == "sync", col(SyncRunRow.status) == "done")
            .where(col(SyncRunRow.started_at) > since)
            .limit(1)
        )
        try:
            with engine.connect() as connection:  # type: ignore[attr-defined]
                return connection.execute(query).first() is not None
        except Exception:
            return False

    def wait(self) -> None:
        for watcher in self._watchers:
            watcher.join(RECOVERY_TIMEOUT_S + 5)
