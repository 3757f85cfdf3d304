"""The sandbox's own ceiling, so that it is never mistaken for the bottleneck of other benchmarks.

Starts the sandbox in-process with zero latency and measures, with 8 client threads each holding a
pooled requests.Session:
  * simple calls/s: GET /ping and GET one member;
  * batch-subscribe members/s: POST /lists/{id} with 500-member batches.

Each figure is taken twice: with the client threads in the sandbox's own process (they share its GIL:
what an in-process test or benchmark sees), and with them in a separate process (the sandbox's own
ceiling; on a 2-core machine the client gets the other core).

With ``--cpu-per-call N`` it measures instead the sandbox's own CPU per 500-member batch subscribe: a
sandbox started with ``serve`` in a process of its own, N sequential calls of 500 new members each as the
sync sends them (FNAME/LNAME, two or three tags), CPU time (user + sys) of that process from ``/proc``
divided by N, printed per 40 calls too (the audience grows by 20,000 members every 40 calls).

Run: .venv/bin/python bench/sandbox_bench.py [--seconds 5] [--cpu-per-call 200]
"""

import argparse
import itertools
import json
import multiprocessing
import os
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from connector.core.remote import subscriber_hash
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import running_sandbox, serve

THREADS = 8
BATCH = 500
AUDIENCE = {
    "name": "bench",
    "contact": {"company": "c", "address1": "a", "city": "c", "state": "s", "zip": "0150", "country": "NO"},
    "permission_reminder": "p",
    "campaign_defaults": {"from_name": "f", "from_email": "f@konsert.no", "subject": "s", "language": "no"},
    "email_type_option": False,
}
MEASURES = (("GET /ping", "calls"), ("GET member", "calls"), ("batch subscribe (500/call)", "members"))


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str
    list_id: str
    member_hash: str


def _work(
    target: Target, name: str, pooled: requests.Session, batches: "itertools.count[int]", prefix: str
) -> int:
    if name == "GET /ping":
        pooled.get(f"{target.base_url}/ping", timeout=30).raise_for_status()
        return 1
    if name == "GET member":
        pooled.get(
            f"{target.base_url}/lists/{target.list_id}/members/{target.member_hash}", timeout=30
        ).raise_for_status()
        return 1
    start = next(batches) * BATCH
    members = [
        {"email_address": f"{prefix}{start + i}@konsert.no", "status": "subscribed"} for i in range(BATCH)
    ]
    response = pooled.post(f"{target.base_url}/lists/{target.list_id}", json={"members": members}, timeout=60)
    return int(response.json()["total_created"])


def measure(target: Target, name: str, seconds: float, prefix: str) -> tuple[int, float]:
    """Run one measure in THREADS threads for ``seconds``: units done and elapsed seconds."""
    stop = time.monotonic() + seconds
    totals: list[int] = []
    lock = threading.Lock()
    batches = itertools.count()

    def worker() -> None:
        done = 0
        with requests.Session() as pooled:
            pooled.auth = ("bench", target.api_key)
            while time.monotonic() < stop:
                done += _work(target, name, pooled, batches, prefix)
        with lock:
            totals.append(done)

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(worker) for _ in range(THREADS)]:
            future.result()
    return sum(totals), time.perf_counter() - started


def prepare(base_url: str, api_key: str) -> Target:
    with requests.Session() as pooled:
        pooled.auth = ("bench", api_key)
        list_id = pooled.post(f"{base_url}/lists", json=AUDIENCE, timeout=30).json()["id"]
        email = "bench@konsert.no"
        body = {"email_address": email, "status_if_new": "subscribed"}
        pooled.put(f"{base_url}/lists/{list_id}/members/{subscriber_hash(email)}", json=body, timeout=30)
    return Target(base_url, api_key, list_id, subscriber_hash(email))


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _silent(_: str) -> None:
    pass


def _batch_body(number: int) -> bytes:
    members = [
        {
            "email_address": f"p{number * BATCH + i}@konsert.no",
            "status": "subscribed",
            "merge_fields": {"FNAME": f"P{i}", "LNAME": "Nordmann"},
            "tags": ["cs:newsletter", "cs:basis-consent"] + (["cs:offers"] if i % 3 == 0 else []),
        }
        for i in range(BATCH)
    ]
    return json.dumps({"members": members, "update_existing": True, "sync_tags": False}).encode()


def cpu_per_call(calls: int) -> None:
    """The sandbox's own CPU per 500-member batch subscribe, in a process of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    knobs = SandboxKnobs(seed=0, request_log_size=5_000)
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(knobs, "127.0.0.1", port, _silent), daemon=True
    )
    process.start()
    assert process.pid is not None
    base = f"http://127.0.0.1:{port}/3.0"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        bodies = [_batch_body(number) for number in range(calls + 1)]
        headers = {"content-type": "application/json"}
        with requests.Session() as pooled:
            pooled.auth = ("bench", f"sandbox-{knobs.dc}")
            list_id = pooled.post(f"{base}/lists", json=AUDIENCE, timeout=30).json()["id"]
            pooled.post(f"{base}/lists/{list_id}", data=bodies[0], headers=headers, timeout=60)  # warm
            started = _process_cpu(process.pid)
            marks = [started]
            for index, body in enumerate(bodies[1:], start=1):
                pooled.post(
                    f"{base}/lists/{list_id}", data=body, headers=headers, timeout=60
                ).raise_for_status()
                if index % 40 == 0:
                    marks.append(_process_cpu(process.pid))
            spent = _process_cpu(process.pid) - started
        steps = ", ".join(f"{(b - a) / 40 * 1000:.1f}" for a, b in itertools.pairwise(marks))
        print(
            f"sandbox's own CPU per 500-member batch subscribe: {spent / calls * 1000:.1f} ms "
            f"over {calls} calls "
            f"(per 40 calls, ms: {steps}); load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        process.terminate()
        process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--cpu-per-call", type=int, default=0, help="N calls: the CPU-per-call measure")
    args = parser.parse_args()
    if args.cpu_per_call:
        cpu_per_call(args.cpu_per_call)
        return
    seconds = args.seconds
    with running_sandbox(SandboxKnobs(max_connections=THREADS + 2, seed=0)) as sandbox:
        target = prepare(sandbox.base_url, sandbox.api_key)
        print(
            f"sandbox ceiling: {THREADS} client threads with pooled sessions,"
            f" zero latency, {seconds:g} s each"
        )
        print(f"  {'':<28} {'clients in-process':>22} {'clients in another process':>28}")
        with ProcessPoolExecutor(1) as other_process:
            for index, (name, unit) in enumerate(MEASURES):
                here = measure(target, name, seconds, f"in{index}-")
                there = other_process.submit(measure, target, name, seconds, f"out{index}-").result()
                rates = [f"{done / elapsed:>12,.0f} {unit}/s" for done, elapsed in (here, there)]
                print(f"  {name:<28} {rates[0]:>22} {rates[1]:>28}")
        stats = sandbox.stats()
        print(
            f"  peak concurrency {stats['peak_concurrency']},"
            f" rejected over limit {stats['rejected_over_limit']}"
        )


if __name__ == "__main__":
    main()
