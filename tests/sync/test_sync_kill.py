"""``kill -9`` in the middle of ``consent-sync sync``; the next start resumes without repeating effects.

The CLI runs as a subprocess against an in-process sandbox with per-call latency, on ~2,000 contacts in
batches of 100, so that the apply takes many calls. It is killed once some calls are confirmed
(``done`` rows in ``plan_operations``), started again, and must finish the same run: the sandbox then
equals the desired state (planning again finds nothing), and no member went out twice except in the
call that was in flight at the kill.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.sync.run import plan_audience
from tests.sync.bulk import seed_contacts
from tests.sync.support import list_id, snapshot, with_sandbox

CONTACTS = 2_000
BATCH = 100
CONNECTIONS = 2
KEY = "test-suppression-key"
UPSERT = "POST /3.0/lists/{list_id}"
TAGS = "POST /3.0/lists/{list_id}/segments/{segment_id}"


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxHandle]:
    knobs = SandboxKnobs(latency_ms=60, latency_per_member_ms=0.2, log_bodies=True, request_log_size=5_000)
    with running_sandbox(knobs) as handle:
        yield handle


def _command() -> list[str]:
    script = Path(sys.executable).parent / "consent-sync"
    return [str(script), "sync"] if script.exists() else [sys.executable, "-m", "connector.cli", "sync"]


def _environment(database_url: str, sandbox: SandboxHandle) -> dict[str, str]:
    return {
        **os.environ,
        "CONSENT_SYNC_DATABASE__URL": database_url,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_MAILCHIMP__MAX_CONNECTIONS": str(CONNECTIONS),
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": KEY,
        "CONSENT_SYNC_SYNC__BATCH_SIZE": str(BATCH),
        "CONSENT_SYNC_LOGGING__LEVEL": "WARNING",
    }


def _done_operations(ctx: AppContext) -> int:
    query = select(func.count()).where(col(PlanOperationRow.state) == "done")
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(query).scalar_one())


def _kill_when_some_calls_are_confirmed(process: subprocess.Popen[bytes], ctx: AppContext) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        done = _done_operations(ctx)
        if done >= 3 * BATCH:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return done
        time.sleep(0.02)
    raise AssertionError(f"the sync ended or stalled before it could be killed (exit {process.poll()})")


def _sent_members(sandbox: SandboxHandle) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """How often each address went out in a batch subscribe, and per tag: in its batch subscribe entry
    (new members) or in a bulk edit of the tag's segment."""
    upserts: Counter[str] = Counter()
    tags: Counter[tuple[str, str]] = Counter()
    for record in sandbox.runtime.observations.requests():
        if record["status"] != 200 or not record["request_body"]:
            continue
        body = json.loads(record["request_body"])
        if record["endpoint"] == UPSERT:
            upserts.update(m["email_address"] for m in body["members"])
            tags.update(
                ("entry " + t, m["email_address"]) for m in body["members"] for t in m.get("tags", [])
            )
        elif record["endpoint"] == TAGS:
            emails = body.get("members_to_add", []) + body.get("members_to_remove", [])
            tags.update((record["path"], email) for email in emails)
    return upserts, tags


def test_kill_9_mid_apply_then_resume(
    ctx: AppContext, database_url: str, slow_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    seed_contacts(ctx.engine, CONTACTS, ctx.now())
    environment = _environment(database_url, slow_sandbox)
    first = subprocess.Popen(_command(), env=environment, cwd=tmp_path, stdout=subprocess.DEVNULL)
    confirmed = _kill_when_some_calls_are_confirmed(first, ctx)
    assert first.returncode == -signal.SIGKILL
    assert confirmed < CONTACTS  # killed mid-apply
    second = subprocess.run(_command(), env=environment, cwd=tmp_path, capture_output=True, timeout=180)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    assert b"(resumed)" in second.stdout
    with unit_of_work(ctx.engine) as session:
        runs = list(session.execute(select(SyncRunRow).where(col(SyncRunRow.kind) == "sync")).scalars())
    assert [r.status for r in runs] == ["done"]
    local = with_sandbox(ctx, slow_sandbox)
    assert len(plan_audience(local, "main", full=True).plan) == 0
    assert len(snapshot(slow_sandbox, list_id(local))) == CONTACTS
    upserts, tags = _sent_members(slow_sandbox)
    in_flight = CONNECTIONS * BATCH
    assert len(upserts) == CONTACTS
    assert max(upserts.values()) <= 2
    assert sum(count - 1 for count in upserts.values()) <= in_flight
    assert len(tags) >= CONTACTS  # every contact has at least one tag
    assert max(tags.values()) <= 2
    in_entries = Counter({key: n for key, n in tags.items() if key[0].startswith("entry ")})
    for tag in {key[0] for key in in_entries}:  # repeated only with their in-flight batch subscribe
        assert sum(n - 1 for key, n in in_entries.items() if key[0] == tag) <= in_flight
    assert sum(count - 1 for key, count in tags.items() if key not in in_entries) <= in_flight
