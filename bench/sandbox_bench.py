"""The sandbox's own ceiling, so that it is never mistaken for the bottleneck of other benchmarks.

Starts the sandbox in-process with zero latency and measures
  * simple calls/s: GET /ping and GET member, 8 threads, each with a pooled requests.Session;
  * batch-subscribe members/s: POST /lists/{id} with 500-member batches, 8 threads.

Run: .venv/bin/python bench/sandbox_bench.py [--seconds 5]
"""

import argparse
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from connector.core.remote import subscriber_hash
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

THREADS = 8
BATCH = 500
AUDIENCE = {
    "name": "bench",
    "contact": {"company": "c", "address1": "a", "city": "c", "state": "s", "zip": "0150", "country": "NO"},
    "permission_reminder": "p",
    "campaign_defaults": {"from_name": "f", "from_email": "f@konsert.no", "subject": "s", "language": "no"},
    "email_type_option": False,
}


def session(sandbox: SandboxHandle) -> requests.Session:
    pooled = requests.Session()
    pooled.auth = ("bench", sandbox.api_key)
    return pooled


def run_for(
    seconds: float, work: Callable[[requests.Session], int], sandbox: SandboxHandle
) -> tuple[int, float]:
    """Run ``work`` in THREADS threads for ``seconds``; returns units done and elapsed seconds."""
    stop = time.monotonic() + seconds
    totals: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        done = 0
        with session(sandbox) as pooled:
            while time.monotonic() < stop:
                done += work(pooled)
        with lock:
            totals.append(done)

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(THREADS):
            pool.submit(worker)
    return sum(totals), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    seconds = parser.parse_args().seconds
    with running_sandbox(SandboxKnobs(max_connections=THREADS + 2, seed=0)) as sandbox:
        with session(sandbox) as pooled:
            list_id = pooled.post(f"{sandbox.base_url}/lists", json=AUDIENCE, timeout=30).json()["id"]
            email = "bench@konsert.no"
            body = {"email_address": email, "status_if_new": "subscribed"}
            pooled.put(
                f"{sandbox.base_url}/lists/{list_id}/members/{subscriber_hash(email)}", json=body, timeout=30
            )
        member_url = f"{sandbox.base_url}/lists/{list_id}/members/{subscriber_hash(email)}"
        counter = iter(range(10**9))

        def ping(pooled: requests.Session) -> int:
            pooled.get(f"{sandbox.base_url}/ping", timeout=30).raise_for_status()
            return 1

        def get_member(pooled: requests.Session) -> int:
            pooled.get(member_url, timeout=30).raise_for_status()
            return 1

        def batch(pooled: requests.Session) -> int:
            start = next(counter) * BATCH
            members = [
                {"email_address": f"m{start + i}@konsert.no", "status": "subscribed"} for i in range(BATCH)
            ]
            result = pooled.post(
                f"{sandbox.base_url}/lists/{list_id}", json={"members": members}, timeout=60
            ).json()
            return int(result["total_created"])

        print(f"sandbox ceiling ({THREADS} client threads, zero latency, {seconds:g} s each)")
        for name, work, unit in (
            ("GET /ping", ping, "calls"),
            ("GET member", get_member, "calls"),
            ("batch subscribe (500/call)", batch, "members"),
        ):
            done, elapsed = run_for(seconds, work, sandbox)
            print(f"  {name:<28} {done / elapsed:>10,.0f} {unit}/s  ({done:,} in {elapsed:.1f} s)")
        stats = sandbox.stats()
        print(
            f"  peak concurrency {stats['peak_concurrency']}, rejected over limit {stats['rejected_over_limit']}"
        )


if __name__ == "__main__":
    main()
