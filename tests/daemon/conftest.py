"""Daemon tests: real ``consent-sync daemon`` processes against the sandbox, on SQLite and PostgreSQL."""

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin, system_clock
from connector.settings import load_settings
from connector.store.engine import make_engine, unit_of_work
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from tests.conftest import POSTGRES_VARIABLE
from tests.fresh_database import copy_sqlite, fresh_postgres
from tests.postgres import reset_postgres

CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")
SUPPRESSION_KEY = "daemon-test-suppression-key"
ORIGIN = Origin("test", "test")
BATCH = 5


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DaemonProcess:
    process: "subprocess.Popen[bytes]"
    metrics_port: int
    log: Path

    def leading(self) -> bool | None:
        """The process's ``consent_sync_daemon_leader`` gauge; ``None`` while it does not answer."""
        try:
            text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except requests.RequestException:
            return None
        for line in text.splitlines():
            if line.startswith("consent_sync_daemon_leader "):
                return float(line.split()[1]) == 1.0
        return None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Deployment:
    """One database and one sandbox; ``start()`` adds a daemon process against them."""

    url: str
    sandbox: SandboxHandle
    tmp_path: Path
    processes: list[DaemonProcess] = field(default_factory=list)

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_SYNC_")}
        env.update(
            CONSENT_SYNC_DATABASE__URL=self.url,
            CONSENT_SYNC_MAILCHIMP__BASE_URL=self.sandbox.base_url,
            CONSENT_SYNC_SECURITY__SUPPRESSION_KEY=SUPPRESSION_KEY,
            CONSENT_SYNC_SYNC__BATCH_SIZE=str(BATCH),
            CONSENT_SYNC_MAILCHIMP__MAX_CONNECTIONS="1",  # one call in flight: "the batch in flight"
            CONSENT_SYNC_SYNC__MAX_DESTRUCTIVE_FRACTION="1",
            CONSENT_SYNC_SCHEDULE__REQUEST_POLL_SECONDS="0.3",
            CONSENT_SYNC_SCHEDULE__LEADER_RETRY_SECONDS="0.3",
            CONSENT_SYNC_SCHEDULE__SHUTDOWN_TIMEOUT_SECONDS="20",
            CONSENT_SYNC_LOGGING__FORMAT="json",
        )
        env.update(extra)
        return env

    def start(self, **extra: str) -> DaemonProcess:
        port = free_port()
        log = self.tmp_path / f"daemon-{len(self.processes)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(CONSENT_SYNC), "daemon", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
                env=self.environment(**extra),
                cwd=self.tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started = DaemonProcess(process, port, log)
        self.processes.append(started)
        wait_for(lambda: started.leading() is not None or process.poll() is not None, 20, "metrics endpoint")
        assert process.poll() is None, started.logs()
        return started

    def context(self) -> AppContext:
        settings = load_settings(
            None,
            database={"url": self.url},
            mailchimp={"base_url": self.sandbox.base_url},
            sync={"batch_size": BATCH, "max_destructive_fraction": 1},
        )
        return AppContext(settings, make_engine(self.url), SUPPRESSION_KEY.encode(), system_clock)

    def stop_all(self) -> None:
        for daemon in self.processes:
            if daemon.process.poll() is None:
                daemon.kill()


def subscribe(ctx: AppContext, email: str, action: ConsentAction = ConsentAction.GIVEN) -> None:
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=1),
        method=ConsentMethod.FORM,
        notice_version="n1",
        recorded_by=Actor.PERSON,
    )
    actions = [action] if action is ConsentAction.WITHDRAWN else [action, ConsentAction.CONFIRMED]
    for each in actions:
        record_consent(ctx, email, ["newsletter"], Channel.EMAIL, each, evidence, ORIGIN)


def latest_run(ctx: AppContext) -> SyncRunRow | None:
    query = select(SyncRunRow).where(col(SyncRunRow.kind) == "sync")
    with unit_of_work(ctx.engine) as session:
        return session.execute(query.order_by(col(SyncRunRow.started_at).desc())).scalars().first()


def operations_by_state(ctx: AppContext, run_id: str) -> dict[str, int]:
    query = (
        select(col(PlanOperationRow.state), func.count())
        .where(col(PlanOperationRow.run_id) == run_id)
        .group_by(col(PlanOperationRow.state))
    )
    with unit_of_work(ctx.engine) as session:
        return {state: count for state, count in session.execute(query)}


def fewest_calls(ctx: AppContext, run_id: str) -> int:
    """The calls the run needs when nothing goes wrong: upsert batches plus per-tag windows (``BATCH``);
    tags added to a member the run creates go out in its batch subscribe entry and need no call."""
    with unit_of_work(ctx.engine) as session:
        query = select(PlanOperationRow).where(col(PlanOperationRow.run_id) == run_id)
        rows = list(session.execute(query).scalars())
    created = {r.subscriber_hash for r in rows if r.kind == "upsert" and r.payload.get("creates")}
    per_call: Counter[str] = Counter()
    for row in rows:
        if row.kind == "upsert":
            per_call["upsert"] += 1
        if row.kind == "add_tags" and row.subscriber_hash in created:
            continue
        for tag in row.payload.get("tags", []) if row.kind.endswith("_tags") else []:
            per_call[f"{row.kind}:{tag}"] += 1
    return sum(math.ceil(count / BATCH) for count in per_call.values())


def apply_calls(sandbox: SandboxHandle) -> int:
    """Batch-subscribe and tag bulk-edit calls the sandbox answered: the apply phase's calls."""
    endpoints = {"POST /3.0/lists/{list_id}", "POST /3.0/lists/{list_id}/segments/{segment_id}"}
    return sum(1 for r in sandbox.runtime.observations.requests() if r["endpoint"] in endpoints)


def postgres_url(*, reset: bool = True) -> str:
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_VARIABLE} must be set in CI")
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_VARIABLE}")
    if reset:
        reset_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_deployment_url"))
    path = tmp_path / "store.db"
    copy_sqlite(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_deployment_url() -> str:
    """The PostgreSQL database migrated and empty (tests/fresh_database.py)."""
    url = postgres_url(reset=False)
    fresh_postgres(url)
    return url


def deploy(url: str, tmp_path: Path, knobs: SandboxKnobs) -> Iterator[Deployment]:
    with running_sandbox(knobs) as sandbox:
        deployment = Deployment(url, sandbox, tmp_path)
        try:
            yield deployment
        finally:
            deployment.stop_all()
