"""A cancellation notice to every ticket holder of one item, against the sandbox's Transactional API.

Seeds a fresh SQLite store set-based (multi-row INSERTs, no CLI call per person) with ``--recipients``
ticket holders of one concert (default 100,000): every 10th withdrew their newsletter consent (an
opt-out of marketing: must still get the notice, P4), every 200th has a hard bounce (``cleaned``) and
every 200th another an erasure on record (together 1 %: must not get it). The sandbox runs in its own
process with ``--latency-ms`` per call. It prints:

* planning time of ``plan_notice_now`` (load the holders set-based + the pure plan) and peak RSS;
* Transactional calls vs the minimum ⌈recipients / recipients per call⌉ (``--per-call``, at most the
  1,000 the gateway allows);
* wall time of the send vs calls × latency ÷ connections (a send has one call in flight, so that a
  ``kill -9`` repeats at most that call: connections = 1);
* the check, from the sandbox's outbox: every lawful holder got the notice exactly once, nobody
  unlawful got it.

Targets: calls ≤ 1.05 × minimum; planning of 100,000 recipients ≤ 5 s. Nothing is asserted except the
lawfulness check (exit 1 if it fails).

Run: .venv/bin/python bench/notice_bench.py [--recipients 100000] [--latency-ms 50] [--per-call 1000]
"""

import argparse
import multiprocessing
import resource
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from sqlalchemy import Engine, insert

from connector.core.identity import address_hash
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import serve
from connector.services.context import AppContext, Origin, system_clock
from connector.services.notice_sending import open_notice_sender, send_notice
from connector.services.notices import notice_status, plan_notice_now, record_notice
from connector.settings import load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from connector.store.tables import ConsentEventRow, ContactRow, RelationshipRow, SuppressionRow

ITEM = "CONCERT-BENCH"
NOTICE = "concert-bench-cancelled"
KEY = b"notice-bench-key"
CHUNK = 5_000
ORIGIN = Origin(actor="bench", source="bench")


def email_of(index: int) -> str:
    return f"holder{index}@example.no"


def withdrew(index: int) -> bool:
    return index % 10 == 1


def stopped(index: int) -> str | None:
    """The hard stop on record for holder ``index``, if any: 1 % of the holders."""
    if index % 200 == 7:
        return "cleaned"
    if index % 200 == 107:
        return "erased"
    return None


def main() -> None:
    args = _arguments()
    print(
        f"notice_bench: {args.recipients} ticket holders of one item, latency {args.latency_ms} ms/call, "
        f"{args.per_call} recipients/call, SQLite store, sandbox in its own process (2 cores shared)"
    )
    knobs = SandboxKnobs(latency_ms=args.latency_ms, request_log_size=1_000)
    with tempfile.TemporaryDirectory() as folder, _sandbox(knobs) as root:
        ctx = _context(Path(folder), root, args.per_call)
        started = time.perf_counter()
        seed(ctx.engine, args.recipients, ctx.now())
        print(f"seeded {args.recipients} holders set-based in {time.perf_counter() - started:.1f} s")
        ok = _run(ctx, root, args)
        ctx.engine.dispose()
    raise SystemExit(0 if ok else 1)


def _run(ctx: AppContext, root: str, args: argparse.Namespace) -> bool:
    spec = NoticeSpec(
        id=NOTICE,
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item=ITEM),
        template=NoticeTemplate(
            subject="Cancelled: *|ITEM|*",
            text="Dear *|FNAME|*, *|ITEM|* is cancelled; *|REFERENCE|* is refunded.",
        ),
        from_email="billett@example.no",
    )
    started, cpu = time.perf_counter(), time.process_time()
    plan = plan_notice_now(ctx, spec, ctx.now())
    planning, cpu = time.perf_counter() - started, time.process_time() - cpu
    record_notice(ctx, spec, plan, ORIGIN)
    recipients = len(plan.recipients)
    print(
        f"planning: {planning:.2f} s wall, {cpu:.2f} s CPU for {recipients} recipients "
        f"+ {len(plan.left_out)} left out "
        f"(target ≤ 5 s); left out: {dict(Counter(e.reason.value for e in plan.left_out))}"
    )
    with open_notice_sender(ctx.settings) as (sender, journey):
        started = time.perf_counter()
        report = send_notice(ctx, NOTICE, sender, journey)
        wall = time.perf_counter() - started
    minimum = -(-recipients // args.per_call)
    print(
        f"Transactional calls: {report.calls} vs minimum {minimum} = ⌈{recipients}/{args.per_call}⌉ "
        f"(ratio {report.calls / max(1, minimum):.3f}, target ≤ 1.05)"
    )
    bound = report.calls * args.latency_ms / 1000 / 1
    print(
        f"send wall: {wall:.1f} s vs calls × latency ÷ connections = {report.calls} × {args.latency_ms:g} ms "
        f"÷ 1 = {bound:.1f} s (the rest: re-planning at send time, writing and recording "
        f"{recipients} deliveries, the sandbox's own work per recipient)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")
    return _verify(ctx, root, args.recipients, report.status)


def _verify(ctx: AppContext, root: str, holders: int, status: str) -> bool:
    answer = requests.get(f"{root}/sandbox/transactional/outbox", params={"notice_id": NOTICE}, timeout=300)
    sent = Counter(m["email"] for m in answer.json()["messages"] if m["status"] == "sent")
    lawful = {email_of(i) for i in range(holders) if stopped(i) is None}
    unlawful = {email_of(i) for i in range(holders) if stopped(i) is not None}
    missing = lawful - set(sent)
    wrongly = unlawful & set(sent)
    twice = [e for e, n in sent.items() if n > 1]
    opted_out = sum(1 for i in range(holders) if withdrew(i) and stopped(i) is None)
    reached = sum(1 for i in range(holders) if withdrew(i) and email_of(i) in sent)
    totals = notice_status(ctx, NOTICE).totals
    print(
        f"check: {len(sent)} received, {len(missing)} lawful left out, {len(wrongly)} unlawful in, "
        f"{len(twice)} twice; opted out of marketing and reached: {reached}/{opted_out}; "
        f"notice {status}, store totals {totals}"
    )
    return not missing and not wrongly and not twice and reached == opted_out


# --- the store -------------------------------------------------------------------------------------------


def seed(engine: Engine, count: int, now: datetime) -> None:
    """Holders ``0 … count - 1``: a contact, a ticket for ``ITEM``, a confirmed newsletter sign-up
    (withdrawn for every 10th), a hard bounce or an erasure on record for 1 %."""
    for first in range(0, count, CHUNK):
        contacts, events, tickets, stops = [], [], [], []
        for index in range(first, min(first + CHUNK, count)):
            contact_id = str(uuid.uuid4())
            contacts.append(_contact(contact_id, index, now))
            events += _newsletter(contact_id, now, withdrew(index))
            tickets.append(_ticket(contact_id, index, now))
            reason = stopped(index)
            if reason is not None:
                stops.append(
                    {
                        "address_hash": address_hash(email_of(index), KEY),
                        "reason": reason,
                        "created_at": now - timedelta(days=2),
                        "source": "bench",
                    }
                )
        with engine.begin() as connection:
            connection.execute(insert(ContactRow), contacts)
            connection.execute(insert(ConsentEventRow), events)
            connection.execute(insert(RelationshipRow), tickets)
            if stops:
                connection.execute(insert(SuppressionRow), stops)


def _contact(contact_id: str, index: int, now: datetime) -> dict[str, Any]:
    return {
        "id": contact_id,
        "email": email_of(index),
        "first_name": f"Holder{index}",
        "last_name": "Hansen",
        "processing_restricted": False,
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
        "next_review_at": None,
    }


def _newsletter(contact_id: str, now: datetime, withdrawn: bool) -> list[dict[str, Any]]:
    actions = [("given", 30), ("confirmed", 29)] + ([("withdrawn", 3)] if withdrawn else [])
    return [
        {
            "id": str(uuid.uuid4()),
            "contact_id": contact_id,
            "purpose": "newsletter",
            "channel": "email",
            "action": action,
            "occurred_at": now - timedelta(days=days),
            "recorded_at": now,
            "method": "mailchimp" if action == "withdrawn" else "form",
            "source": "bench",
            "notice_version": "n1",
            "active_act": True,
            "ip": None,
            "user_agent": None,
            "double_opt_in_requested_at": None,
            "recorded_by": "person",
            "source_ref": None,
        }
        for action, days in actions
    ]


def _ticket(contact_id: str, index: int, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "contact_id": contact_id,
        "kind": "purchase",
        "reference": f"TICKET-{index}",
        "item": ITEM,
        "categories": ["concerts"],
        "started_at": now - timedelta(days=20),
        "service_date": now + timedelta(days=30),
        "ended_at": None,
        "opt_out_offered": False,
        "order_value": None,
        "source": "bench",
        "recorded_at": now,
    }


def _context(folder: Path, root: str, per_call: int) -> AppContext:
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    settings = load_settings(
        None,
        database={"url": url},
        mailchimp={"base_url": f"{root}/3.0", "max_attempts": 8, "backoff_initial_seconds": 0.05},
        security={"suppression_key_file": str(folder / "bench.key")},
        transactional={
            "api_key": "bench-transactional-key",
            "base_url": f"{root}/api/1.0",
            "from_email": "billett@example.no",
            "batch_size": per_call,
            "confirm_above": 10_000_000,
        },
    )
    return AppContext(settings=settings, engine=make_engine(url), suppression_key=KEY, clock=system_clock)


# --- the sandbox, in its own process ------------------------------------------------------------------


@contextmanager
def _sandbox(knobs: SandboxKnobs) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(knobs, "127.0.0.1", port, _silent), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError(f"the sandbox did not listen on port {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)


def _silent(_: str) -> None:
    pass


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=100_000, help="ticket holders of the item")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the sandbox's latency per call")
    parser.add_argument("--per-call", type=int, default=1000, help="recipients per call (1..1000)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
