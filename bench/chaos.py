"""The chaos run: ``serve``, the daemon and the sandbox as real processes, under load and under faults.

    .venv/bin/python bench/chaos.py                       # the full form: a few minutes
    .venv/bin/python bench/chaos.py --short               # the CI form (tests/test_chaos_short.py)
    .venv/bin/python bench/chaos.py --duration 60 --contacts 1000 --events 1500 --seed 7

Everything listens on 127.0.0.1 (free ports). The database is a private PostgreSQL cluster of our own
(``initdb`` in a temporary directory, as ``postgres`` when run as root; see ``bench/chaos_database.py``),
else the PostgreSQL at ``--database-url`` / ``CONSENT_SYNC_TEST_DATABASE_URL`` (no server restart there:
only the connection loss), else SQLite (neither).

The same seeded workload runs twice: once without faults (the reference for API calls), then with them:
the sandbox answering 20 % 429, 5 % 500 and 2 % too slowly for the client's timeout, ``kill -9`` of the
daemon and of ``serve`` (twice each), a connection loss, a server restart and a wrong ``list_id``, at
moments drawn from the seed (``bench/chaos_faults.py``). The workload (``bench/chaos_workload.py``):
webhooks with 10 % duplicates and reordering, people unsubscribing in the sandbox, opt-out imports applied
twice; the daemon syncs throughout. Then everything is stopped, a last ``reconcile`` and ``sync`` run,
and the store and the sandbox's saved state are checked (``bench/chaos_verify.py``).

It prints events acknowledged and applied exactly once, duplicates applied twice, opt-outs lost,
unlawful subscribes, API calls against the fault-free run, and the time to recover after each fault;
it exits 1 when any figure that must be zero is not (or the run could not recover).
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import requests
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.chaos_database import PrivateCluster, free_port, remove_cluster, start_private_cluster
from bench.chaos_faults import Fleet, Injector, Recovery
from bench.chaos_processes import (
    base_environment,
    daemon_process,
    run_cli,
    sandbox_process,
    serve_process,
    wait_until,
)
from bench.chaos_traffic import Traffic
from bench.chaos_verify import AUDIENCE, Verdict, verify
from bench.chaos_workload import Import, PersonUnsubscribe, Post, build_workload
from connector.core.remote import subscriber_hash
from connector.mailchimp.payloads import ListContact
from connector.settings import Settings, load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.store.sync_tables import AudienceStateRow
from connector.sync.connect import open_gateway
from tests.postgres import reset_postgres
from tests.sync.bulk import seed_contacts

SECRET = "chaos-webhook-secret"  # noqa: S105 - the run's own loopback webhook, not a credential
PURPOSES = '["newsletter", "offers", "partner_offers"]'


# --- the database ----------------------------------------------------------------------------------


@dataclass
class ClusterDatabase:
    cluster: PrivateCluster
    can_restart: bool = True

    @property
    def url(self) -> str:
        return self.cluster.url

    def terminate_connections(self) -> int:
        return self.cluster.terminate_connections()

    def restart(self) -> None:
        self.cluster.restart()

    def reset(self) -> None:
        reset_postgres(self.url)


@dataclass
class ServerDatabase:
    """A PostgreSQL we do not own (CI's): sessions of our database may be cut, the server never restarted."""

    url: str
    can_restart: bool = False

    def terminate_connections(self) -> int:
        parsed = make_url(self.url)
        query = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as connection:
            row = connection.execute(query, (parsed.database,)).fetchone()
        return int(row[0]) if row else 0

    def restart(self) -> None:
        raise RuntimeError("not our server")

    def reset(self) -> None:
        reset_postgres(self.url)


@dataclass
class SqliteDatabase:
    directory: Path
    can_restart: bool = False
    runs: int = 0

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory}/chaos-{self.runs}.db"

    def terminate_connections(self) -> int:
        return 0

    def restart(self) -> None:
        raise RuntimeError("SQLite has no server")

    def reset(self) -> None:
        self.runs += 1


Database = ClusterDatabase | ServerDatabase | SqliteDatabase


def open_database(args: argparse.Namespace, directory: Path) -> Database:
    if not args.no_private_cluster:
        try:
            cluster = start_private_cluster()
        except Exception as exc:
            print(f"private PostgreSQL cluster not started ({type(exc).__name__}: {exc})")
            cluster = None
        if cluster is not None:
            return ClusterDatabase(cluster)
    url = args.database_url or os.environ.get("CONSENT_SYNC_TEST_DATABASE_URL")
    if url:
        return ServerDatabase(url)
    return SqliteDatabase(directory)


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class RunFigures:
    faults: bool
    verdict: Verdict
    calls: int
    calls_ok: int
    sandbox_faults: dict[str, int]
    recoveries: list[Recovery]
    refusals: dict[str, int]
    unexpected_exits: dict[str, list[int]]
    reconcile_refused: bool | None
    reconcile_output: str
    wall_s: float
    syncs: int = 0
    """Sync runs that applied something."""
    operations: int = 0
    """Operations those runs planned (members upserted, tags changed, archives)."""
    final: dict[str, int] = field(default_factory=dict)


def write_config(path: Path, list_id: str | None) -> None:
    line = f'list_id = "{list_id}"\n' if list_id else ""
    path.write_text(
        "[mailchimp]\ntimeout_seconds = 2.0\nbackoff_initial_seconds = 0.05\nbackoff_max_seconds = 1.0\n"
        "max_attempts = 10\nmax_connections = 4\n\n"
        "[schedule]\nsync_interval_seconds = 5\nrequest_poll_seconds = 0.25\nleader_retry_seconds = 0.5\n"
        "shutdown_timeout_seconds = 5\nreconcile_interval_seconds = 60\n\n"
        f'[[audiences]]\nname = "{AUDIENCE}"\npurposes = {PURPOSES}\n{line}',
        encoding="utf-8",
    )


def bound_list(url: str) -> str:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            state = session.get(AudienceStateRow, AUDIENCE)
            if state is None or state.list_id is None:
                raise SystemExit("the first sync bound the audience to no list")
            return state.list_id
    finally:
        engine.dispose()


def cli_until_done(environment: dict[str, str], *arguments: str, attempts: int = 4) -> str:
    for _ in range(attempts):
        done = run_cli(environment, *arguments)
        if done.returncode == 0:
            return done.stdout
        time.sleep(1.0)
    raise SystemExit(f"consent-sync {' '.join(arguments)} failed: {(done.stdout + done.stderr)[-1500:]}")


def settings_of(environment: dict[str, str]) -> Settings:
    """The settings the processes of the run see (their ``CONSENT_SYNC_*`` variables, their file)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in environment.items() if k.startswith("CONSENT_SYNC_")})
    try:
        return load_settings(Path(environment["CONSENT_SYNC_CONFIG"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def other_list(environment: dict[str, str]) -> str:
    """An empty list in the sandbox: what the operator's mistake points the audience at."""
    settings = settings_of(environment)
    with open_gateway(settings.mailchimp) as gateway:
        return gateway.create_list(
            "consent-sync test list",
            contact=ListContact("consent-sync chaos", "Storgata 1", "Oslo", "0155", "NO"),
            from_name="consent-sync",
            from_email="news@example.no",
            permission_reminder="You signed up or are a customer of ours.",
        ).id


def run_once(args: argparse.Namespace, database: Database, root: Path, faults: bool) -> RunFigures:
    started = time.monotonic()
    directory = root / ("faults" if faults else "reference")
    directory.mkdir()
    database.reset()
    upgrade(database.url)
    engine = make_engine(database.url)
    seed_contacts(engine, args.contacts, datetime.now(UTC) - timedelta(days=1))
    engine.dispose()
    config = directory / "consent-sync.toml"
    write_config(config, None)
    sandbox_port, serve_port, daemon_port = free_port(), free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    environment = base_environment(config, database.url, f"{sandbox_url}/3.0", SECRET)
    sandbox = sandbox_process(directory, sandbox_port, args.seed, faults)
    serve = serve_process(directory, serve_port, environment)
    daemon = daemon_process(directory, daemon_port, environment)
    fleet = Fleet(sandbox, serve, daemon)
    try:
        sandbox.launch()
        serve.launch()
        sandbox.wait_ready()
        cli_until_done(environment, "sync")  # the initial sync creates and fills the list
        list_id = bound_list(database.url)
        write_config(config, list_id)  # the line an operator would have written (serve reads it later)
        serve.wait_ready()
        hook = f"http://127.0.0.1:{serve_port}/webhooks/mailchimp/{SECRET}"
        cli_until_done(environment, "webhooks", "register", "-a", AUDIENCE, "--url", hook)
        daemon.start()
        wrong = other_list(environment) if faults else ""
        return _play(args, database, fleet, environment, directory, (list_id, wrong), faults, started)
    finally:
        fleet.stopped.set()
        for process in (daemon, serve, sandbox):
            process.stop()


def _play(
    args: argparse.Namespace,
    database: Database,
    fleet: Fleet,
    environment: dict[str, str],
    directory: Path,
    list_ids: tuple[str, str],
    faults: bool,
    started: float,
) -> RunFigures:
    workload = build_workload(args.seed, args.contacts, args.events, args.duration, list_ids[0])
    sandbox_url = fleet.sandbox.ready_url.removesuffix("/_sandbox/stats")
    hook = f"{fleet.serve.ready_url.removesuffix('/readyz')}/webhooks/mailchimp/{SECRET}"
    traffic = Traffic(workload, hook, sandbox_url, list_ids[0], environment, directory)
    config = Path(environment["CONSENT_SYNC_CONFIG"])
    rng = random.Random(args.seed)
    injector = Injector(fleet, database, rng, environment, lambda i: write_config(config, i), list_ids)
    threading.Thread(target=fleet.supervise, name="chaos-supervisor", daemon=True).start()
    player = threading.Thread(target=traffic.play, name="chaos-traffic")
    begun = time.monotonic()
    player.start()
    if faults:
        injector.run(injector.schedule(args.duration, args.kills), begun)
    player.join()
    injector.wait()
    _settle(sandbox_url, database.url)
    fleet.stopped.set()
    with fleet.lock:
        fleet.daemon.stop()
        fleet.serve.stop()
    final = {"reconcile": run_cli(environment, "reconcile").returncode}
    cli_until_done(environment, "sync")
    calls, calls_ok, sandbox_faults = _calls(sandbox_url)
    delivered = _delivered(sandbox_url)
    fleet.sandbox.stop()
    settings = settings_of(environment)
    syncs, operations = _sync_work(settings.database.url)
    opted_out = _opted_out(workload.timeline, traffic)
    verdict = verify(
        settings, traffic.acked, delivered, opted_out, directory / "sandbox.db", datetime.now(UTC)
    )
    return RunFigures(
        faults=faults,
        verdict=verdict,
        calls=calls,
        calls_ok=calls_ok,
        sandbox_faults=sandbox_faults,
        recoveries=injector.recoveries,
        refusals=dict(traffic.refusals),
        unexpected_exits={p.name: p.unexpected_exits for p in (fleet.sandbox, fleet.serve, fleet.daemon)},
        reconcile_refused=injector.reconcile_refused,
        reconcile_output=injector.reconcile_output,
        wall_s=time.monotonic() - started,
        syncs=syncs,
        operations=operations,
        final=final,
    )


def _settle(sandbox_url: str, url: str) -> None:
    """Wait for the sandbox's webhook deliveries, then for one more sync of the daemon's."""
    wait_until(lambda: _stats(sandbox_url).get("webhook_deliveries_pending", 1) == 0, 60, interval=0.2)
    since = datetime.now(UTC)
    engine = make_engine(url)
    try:
        from sqlalchemy import select
        from sqlmodel import col

        from connector.store.sync_tables import SyncRunRow

        query = (
            select(col(SyncRunRow.id))
            .where(col(SyncRunRow.kind) == "sync", col(SyncRunRow.status) == "done")
            .where(col(SyncRunRow.started_at) > since)
        )
        with Session(engine) as session:
            wait_until(lambda: session.execute(query).first() is not None, 60, interval=0.25)
    finally:
        engine.dispose()


def _sync_work(url: str) -> tuple[int, int]:
    """Sync runs that planned anything, and how many operations they planned in all."""
    from sqlalchemy import select
    from sqlmodel import col

    from connector.store.sync_tables import SyncRunRow

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(col(SyncRunRow.counts)).where(col(SyncRunRow.kind) == "sync")
            planned = [sum(counts.values()) for counts in session.execute(query).scalars()]
    finally:
        engine.dispose()
    return sum(1 for n in planned if n), sum(planned)


def _stats(sandbox_url: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = requests.get(f"{sandbox_url}/_sandbox/stats", timeout=5).json()
    except requests.RequestException:
        return {}
    return found


def _calls(sandbox_url: str) -> tuple[int, int, dict[str, int]]:
    stats = _stats(sandbox_url)
    endpoints: dict[str, dict[str, int]] = stats.get("endpoints", {})
    api = {name: counts for name, counts in endpoints.items() if "/3.0" in name}
    total = sum(sum(counts.values()) for counts in api.values())
    ok = sum(n for counts in api.values() for status, n in counts.items() if status.startswith("2"))
    return total, ok, dict(stats.get("faults", {}))


def _delivered(sandbox_url: str) -> int:
    found = requests.get(f"{sandbox_url}/_sandbox/webhook-deliveries", timeout=10).json()
    return sum(1 for record in found["deliveries"] if record["delivered"])


def _opted_out(timeline: tuple[tuple[float, Any], ...], traffic: Traffic) -> set[str]:
    acked = set(traffic.acked)
    posted = {
        a.email for _, a in timeline if isinstance(a, Post) and a.kind == "unsubscribe" and a.body in acked
    }
    people = {a.email for _, a in timeline if isinstance(a, PersonUnsubscribe)}
    imported = {
        e for _, a in timeline if isinstance(a, Import) and a.name in traffic.imports for e in a.opt_outs
    }
    return posted | people | imported


# --- the report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace, database: Database, reference: RunFigures, chaos: RunFigures) -> int:
    verdict = chaos.verdict
    print(
        f"chaos run: seed {args.seed}, {args.contacts} contacts, ~{args.events} webhook posts over "
        f"{args.duration:.0f} s, database {type(database).__name__.removesuffix('Database').lower()}"
    )
    print(
        f"events acknowledged: {verdict.acknowledged} distinct webhook posts "
        f"(+{verdict.duplicates_posted} duplicates posted), {verdict.sandbox_deliveries} sandbox deliveries"
    )
    print(
        f"events applied exactly once: {verdict.applied_once} of {verdict.acknowledged}; lost {verdict.lost}"
    )
    print(f"duplicates applied twice: {verdict.applied_twice}  (must be 0)")
    print(f"opt-outs lost: {verdict.opt_outs_lost} of {verdict.opt_outs}  (must be 0)")
    print(f"unlawful subscribes: {verdict.unlawful_subscribes}  (must be 0)")
    overhead = chaos.calls / reference.calls - 1 if reference.calls else 0.0
    retried = (chaos.calls - chaos.calls_ok) / chaos.calls_ok if chaos.calls_ok else 0.0
    print(
        f"API calls: {chaos.calls} ({chaos.calls_ok} answered 2xx) vs {reference.calls} fault-free: "
        f"{overhead:+.0%}; answers that were faults: {retried:.0%} on top of the 2xx; "
        f"sandbox faults {chaos.sandbox_faults}"
    )
    print(
        f"sync runs that changed something: {chaos.syncs} ({chaos.operations} operations) vs "
        f"{reference.syncs} ({reference.operations}) fault-free; calls per 100 operations "
        f"{_per_hundred(chaos)} vs {_per_hundred(reference)}"
    )
    for recovery in chaos.recoveries:
        took = f"{recovery.seconds:.1f} s" if recovery.seconds is not None else "NOT RECOVERED"
        note = f" ({recovery.note})" if recovery.note else ""
        print(f"recovered after {recovery.kind} at {recovery.at_s:.1f} s: {took}{note}")
    refused = chaos.reconcile_refused
    print(f"list_id change: nightly reconcile --full refused: {refused} — {chaos.reconcile_output}")
    print(f"members per sandbox list: {verdict.members}")
    print(f"retried webhook posts and imports: {chaos.refusals or 'none'}")
    exits = {name: codes for name, codes in chaos.unexpected_exits.items() if codes}
    print(f"unexpected process exits: {exits or 'none'}")
    print(f"wall time: fault-free run {reference.wall_s:.0f} s, chaos run {chaos.wall_s:.0f} s")
    for run in (reference, chaos):  # members by hash prefix (addresses stay out of the output)
        if run.verdict.twice:
            pairs = [f"{subscriber_hash(e)[:8]}/{p}×{n}" for e, p, n in run.verdict.twice]
            print(f"withdrawn more than once ({'chaos' if run.faults else 'fault-free'} run): {pairs}")
        if run.verdict.lost_opt_outs:
            lost = [subscriber_hash(e)[:8] for e in run.verdict.lost_opt_outs]
            print(f"opt-outs lost ({'chaos' if run.faults else 'fault-free'} run): {lost}")
    failures = [*verdict.failures, *(f"fault-free run: {f}" for f in reference.verdict.failures)]
    failures += [f"not recovered after {r.kind}" for r in chaos.recoveries if r.seconds is None]
    if chaos.reconcile_refused is False:
        failures.append("reconcile --full accepted an empty list")
    failures += [f"{name} exited by itself" for name in exits]
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


def _per_hundred(run: RunFigures) -> str:
    return f"{100 * run.calls / run.operations:.1f}" if run.operations else "-"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of workload (per run)")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1500, help="webhook posts, duplicates included")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--kills", type=int, default=2, help="kill -9 of the daemon and of serve, each")
    parser.add_argument(
        "--short", action="store_true", help="the CI form: 12 s, 150 contacts, 150 posts, one kill of each"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL to use without a private cluster")
    parser.add_argument("--no-private-cluster", action="store_true")
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's directory and database (printed) to look into"
    )
    args = parser.parse_args()
    if args.short:
        args.duration, args.contacts, args.events, args.kills = 12.0, 150, 150, 1
    return args


def main() -> int:
    args = arguments()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    root = Path(tempfile.mkdtemp(prefix="chaos-"))
    database = open_database(args, root)
    try:
        reference = run_once(args, database, root, faults=False)
        chaos = run_once(args, database, root, faults=True)
    finally:
        if args.keep:
            print(f"kept: {root}, database {database.url} (the chaos run's)")
        else:
            if isinstance(database, ClusterDatabase):
                remove_cluster(database.cluster)
            shutil.rmtree(root, ignore_errors=True)
    return report(args, database, reference, chaos)


if __name__ == "__main__":
    raise SystemExit(main())
