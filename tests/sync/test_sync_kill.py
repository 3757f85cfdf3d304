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
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from sqlmodel import col

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext, system_clock
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.run import plan_audience
from tests.sync.bulk import email_of, seed_contacts
from tests.sync.support import list_id, remote_tags, snapshot, with_sandbox

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


def _sent_members(sandbox: SandboxHandle, *, since: int = 0) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """How often each address went out in a batch subscribe, and per tag: in its batch subscribe entry
    (new members) or in a bulk edit of the tag's segment (of the requests after the ``since`` first)."""
    upserts: Counter[str] = Counter()
    tags: Counter[tuple[str, str]] = Counter()
    for record in sandbox.runtime.observations.requests()[since:]:
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


# --- a streamed run killed while its destructive operations are held back --------------------------

OLD, NEW, WITHDRAWN = 600, 1_400, 200
"""Members synced before; contacts new in the killed run (streamed at once); old members whose withdrawal
(a destructive removal) waits in the killed run for the whole audience to be planned."""


def _held_and_done(ctx: AppContext, run_id: str | None) -> tuple[int, int]:
    query = select(col(PlanOperationRow.state), func.count()).group_by(col(PlanOperationRow.state))
    if run_id is not None:
        query = query.where(col(PlanOperationRow.run_id) == run_id)
    with unit_of_work(ctx.engine) as session:
        counts = dict(session.execute(query).all())
    held = sum(n for state, n in counts.items() if str(state).startswith("held:"))
    return held, int(counts.get("done", 0))


def _withdraw(ctx: AppContext, emails: list[str], at: datetime) -> None:
    with ctx.engine.begin() as connection:
        ids = dict(
            connection.execute(
                select(col(ContactRow.email), col(ContactRow.id)).where(col(ContactRow.email).in_(emails))
            ).all()
        )
        connection.execute(
            insert(ConsentEventRow),
            [
                {
                    "id": str(uuid.uuid4()),
                    "contact_id": ids[email],
                    "purpose": "newsletter",
                    "channel": "email",
                    "action": "withdrawn",
                    "occurred_at": at,
                    "recorded_at": at,
                    "method": "form",
                    "source": "bulk",
                    "notice_version": "n1",
                    "active_act": True,
                    "recorded_by": "person",
                }
                for email in emails
            ],
        )
        connection.execute(update(ContactRow).where(col(ContactRow.email).in_(emails)).values(changed_at=at))


def _kill_while_held(process: subprocess.Popen[bytes], ctx: AppContext) -> tuple[int, int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with unit_of_work(ctx.engine) as session:
            query = select(col(SyncRunRow.id)).where(col(SyncRunRow.status) == "applying")
            run_id = session.execute(query).scalars().first()
        if run_id is not None:
            held, done = _held_and_done(ctx, run_id)
            if held and done >= 3 * BATCH:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return _held_and_done(ctx, run_id)
        time.sleep(0.02)
    raise AssertionError(f"the sync ended or stalled before it could be killed (exit {process.poll()})")


def test_kill_9_while_a_streamed_run_holds_its_destructive_operations_then_resume(
    ctx: AppContext, database_url: str, slow_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    seed_contacts(ctx.engine, OLD, now - timedelta(minutes=10))
    environment = {**_environment(database_url, slow_sandbox), "CONSENT_SYNC_SYNC__STREAM_CHUNK": "100"}
    first = subprocess.run(_command(), env=environment, cwd=tmp_path, capture_output=True, timeout=180)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    withdrawn = [email_of(i) for i in range(WITHDRAWN)]
    _withdraw(ctx, withdrawn, datetime.now(UTC))
    seed_contacts(ctx.engine, NEW, datetime.now(UTC), start=OLD)
    before = len(slow_sandbox.runtime.observations.requests())

    killed = subprocess.Popen(_command(), env=environment, cwd=tmp_path, stdout=subprocess.DEVNULL)
    held, done = _kill_while_held(killed, ctx)
    assert killed.returncode == -signal.SIGKILL
    assert held > 0
    assert done < NEW  # killed mid-stream
    audience = list_id(with_sandbox(ctx, slow_sandbox))
    # Nothing destructive left before the guard: every withdrawn member still carries the newsletter.
    assert all("cs:newsletter" in remote_tags(slow_sandbox, audience, email) for email in withdrawn)

    second = subprocess.run(_command(), env=environment, cwd=tmp_path, capture_output=True, timeout=180)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    assert b"(resumed)" in second.stdout
    with unit_of_work(ctx.engine) as session:
        query = select(SyncRunRow).where(col(SyncRunRow.kind) == "sync").order_by(col(SyncRunRow.started_at))
        runs = list(session.execute(query).scalars())
    assert [r.status for r in runs] == ["done", "done"]
    assert _held_and_done(ctx, runs[-1].id)[0] == 0
    local = replace(with_sandbox(ctx, slow_sandbox), clock=system_clock)  # the CLI's clock, not the fake
    assert len(plan_audience(local, "main", full=True).plan) == 0
    members = snapshot(slow_sandbox, audience)
    assert all(email_of(i) in members for i in range(OLD, OLD + NEW))
    assert not any("cs:newsletter" in members[e][1] for e in withdrawn if e in members)

    upserts, tags = _sent_members(slow_sandbox, since=before)
    in_flight = CONNECTIONS * BATCH
    assert len(upserts) >= NEW
    assert max(upserts.values()) <= 2
    assert sum(count - 1 for count in upserts.values()) <= in_flight
    assert max(tags.values()) <= 2
    # A repeated batch subscribe repeats every tag its members carry: each tag at most once per member of
    # the in-flight calls (a member with two tags in a repeated call is two repeated entries).
    in_entries = Counter({key: n for key, n in tags.items() if key[0].startswith("entry ")})
    for tag in {key[0] for key in in_entries}:
        assert sum(n - 1 for key, n in in_entries.items() if key[0] == tag) <= in_flight
    assert sum(count - 1 for key, count in tags.items() if key not in in_entries) <= in_flight
    removed = [key for key in tags if not key[0].startswith("entry ") and key[1] in set(withdrawn)]
    assert all(tags[key] == 1 for key in removed)  # held until the guard: sent once, after the resume
