"""Webhook intake benchmark: a concurrent client posts realistic Mailchimp events to ``consent-sync serve``.

    python bench/webhook_bench.py                                  # SQLite in a temp dir
    python bench/webhook_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        --reset-postgres --workers 2

Unsubscribe and profile events for seeded contacts, 10 % of them delivered twice (Mailchimp's
at-least-once delivery), posted over keep-alive connections by a small asyncio HTTP/1.1 client (so the
client costs little CPU next to the server on the same machine). Prints acks/s, p50/p99 latency, and
verifies that every acknowledged event is in the store exactly once (inbox row and its effect). Also
prints the CPU time per event of ``serve`` (all its processes) and of this client, a figure that stays
comparable when the machine is shared and wall-clock rates are noisy.
Targets (issues 5 and 17): >= 1,000 events/s acked, p99 <= 50 ms, zero lost, on SQLite and PostgreSQL.
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import requests
from sqlalchemy import func, select
from sqlmodel import Session, col

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.postgres

from connector.core.webhook_events import parse_event
from connector.store.engine import make_engine
from connector.store.http_tables import WebhookInboxRow
from connector.store.migrate import upgrade
from connector.store.sync_tables import AudienceStateRow
from connector.store.tables import ConsentEventRow, ContactRow
from tests.postgres import reset_postgres

SECRET = "bench-secret"  # noqa: S105 - a local benchmark value, not a credential
LIST_ID = "benchlist01"
CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")


def seed(url: str, contacts: int) -> list[str]:
    """Contacts with confirmed newsletter consent, and the audience's list id."""
    now = datetime.now(UTC)
    emails = [f"bench{n:06d}@firma.no" for n in range(contacts)]
    rows = [
        ContactRow(
            id=str(uuid.uuid4()), email=e, jurisdiction="NO", created_at=now, updated_at=now, changed_at=now
        )
        for e in emails
    ]
    engine = make_engine(url)
    with Session(engine) as session:
        session.add_all(rows)
        session.flush()
        for row in rows:
            for action in ("given", "confirmed"):
                session.add(
                    ConsentEventRow(
                        id=str(uuid.uuid4()),
                        contact_id=row.id,
                        purpose="newsletter",
                        channel="email",
                        action=action,
                        occurred_at=now - timedelta(days=3),
                        recorded_at=now,
                        method="form",
                        source="bench",
                        notice_version="n1",
                        active_act=True,
                        recorded_by="person",
                    )
                )
        session.add(AudienceStateRow(audience="main", list_id=LIST_ID))
        session.commit()
    engine.dispose()
    return emails


def events(emails: list[str], duplicates: float, rng: random.Random) -> list[bytes]:
    """One event per contact (70 % unsubscribe, 30 % profile), plus re-deliveries, shuffled."""
    fired = datetime.now(UTC).replace(microsecond=0)
    bodies = [_unsubscribe(e, fired) if rng.random() < 0.7 else _profile(e, fired) for e in emails]
    repeats = rng.sample(bodies, int(len(bodies) * duplicates))
    stream = bodies + repeats
    rng.shuffle(stream)
    return stream


def _pairs(kind: str, fired: datetime, email: str, extra: list[tuple[str, str]]) -> bytes:
    head = [("type", kind), ("fired_at", fired.strftime("%Y-%m-%d %H:%M:%S"))]
    data = [("data[id]", email[:10]), ("data[list_id]", LIST_ID), ("data[email]", email)]
    data += [("data[email_type]", "html"), ("data[ip_opt]", "10.20.10.30")]
    merges = [
        ("data[merges][EMAIL]", email),
        ("data[merges][FNAME]", "Kari"),
        ("data[merges][LNAME]", "Nordmann"),
    ]
    return urlencode(head + extra + data + merges).encode()


def _unsubscribe(email: str, fired: datetime) -> bytes:
    extra = [("data[action]", "unsub"), ("data[reason]", "manual"), ("data[campaign_id]", "cb398d21d2")]
    return _pairs("unsubscribe", fired, email, extra)


def _profile(email: str, fired: datetime) -> bytes:
    return _pairs("profile", fired, email, [])


class Connection:
    """A keep-alive HTTP/1.1 connection that posts form bodies and reads the status line and body."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def post_all(port: int, stream: list[bytes], concurrency: int) -> tuple[list[float], list[bytes], int]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in stream:
        queue.put_nowait(body)
    latencies: list[float] = []
    acked: list[bytes] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        connection = Connection("127.0.0.1", port, f"/webhooks/mailchimp/{SECRET}")
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            status = await connection.post(body)
            latencies.append(time.perf_counter() - started)
            if status == 200:
                acked.append(body)
            else:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, acked, failures


def verify(url: str, acked: list[bytes]) -> tuple[int, int, int]:
    """(acknowledged distinct events, found in the inbox, contacts whose withdrawal count is wrong)."""
    keys = {parse_event(body).dedup_key for body in acked}
    unsubscribed = {parse_event(b).email for b in acked if b.startswith(b"type=unsubscribe")}
    engine = make_engine(url)
    with Session(engine) as session:
        stored = set(session.execute(select(col(WebhookInboxRow.dedup_key))).scalars())
        query = (
            select(col(ContactRow.email), func.count())
            .join(ConsentEventRow, col(ConsentEventRow.contact_id) == col(ContactRow.id))
            .where(col(ConsentEventRow.action) == "withdrawn")
            .group_by(col(ContactRow.email))
        )
        withdrawals = dict(session.execute(query).tuples().all())
    engine.dispose()
    wrong = sum(1 for email in unsubscribed if withdrawals.get(email) != 3)
    wrong += sum(1 for email in withdrawals if email not in unsubscribed)
    return len(keys), len(keys & stored), wrong


def start_serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CONSENT_SYNC_DATABASE__URL": url,
        "CONSENT_SYNC_WEBHOOKS__SECRET": SECRET,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "bench-key",
        "CONSENT_SYNC_LOGGING__LEVEL": "WARNING",
    }
    command = [str(CONSENT_SYNC), "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("serve did not start")


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``serve`` and its worker processes so far (Linux ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for child in children for d in _descendants(child)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument(
        "--reset-postgres", action="store_true", help="drop and recreate the public schema first"
    )
    parser.add_argument("--events", type=int, default=5000, help="distinct events (duplicates come on top)")
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        if args.reset_postgres:
            reset_postgres(url)
        upgrade(url)
        emails = seed(url, args.events)
        stream = events(emails, args.duplicates, random.Random(args.seed))
        server = start_serve(url, args.port, args.workers)
        try:
            cpu_before, client_before = server_cpu_seconds(server.pid), time.process_time()
            started = time.perf_counter()
            latencies, acked, failures = asyncio.run(post_all(args.port, stream, args.concurrency))
            elapsed = time.perf_counter() - started
            server_cpu = server_cpu_seconds(server.pid) - cpu_before
            client_cpu = time.process_time() - client_before
        finally:
            server.terminate()
            server.wait(timeout=30)
        distinct, found, wrong = verify(url, acked)
    quantiles = statistics.quantiles(latencies, n=100)
    backend = url.split(":", 1)[0]
    print(f"backend={backend} workers={args.workers} concurrency={args.concurrency} events={len(stream)}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"acked {len(acked)} in {elapsed:.2f} s = {len(acked) / elapsed:,.0f} acks/s; non-2xx: {failures}")
    print(f"latency p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms")
    per_event = 1000 / len(stream)
    print(f"CPU per event: serve {server_cpu * per_event:.2f} ms, client {client_cpu * per_event:.2f} ms")
    print(f"acknowledged distinct events {distinct}, in the store {found}, lost {distinct - found}")
    print(f"contacts with a wrong number of withdrawals: {wrong}")
    if found != distinct or wrong:
        raise SystemExit("FAILED: acknowledged events missing or applied more than once")


if __name__ == "__main__":
    main()
