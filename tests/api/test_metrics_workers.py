"""``serve --workers 2``: ``/metrics`` on either worker counts the events of both (multiprocess mode)."""

import re
from pathlib import Path

import requests
from prometheus_client.mmap_dict import MmapedDict

from connector.services.context import AppContext
from tests.api.serving import serving

SECRET = "metrics-workers-secret"
REJECTED = re.compile(r'^consent_sync_webhooks_rejected_total\{reason="secret"\} (\S+)$', re.MULTILINE)
CALLS = 60
MOST_CALLS = (
    1200  # the kernel hands connections to whichever worker accepts first: keep on until both have some
)


def _rejected(url: str) -> float:
    # A new connection for every scrape, so the kernel may hand it to either worker.
    text = requests.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
    found = REJECTED.search(text)
    return float(found.group(1)) if found else 0.0


def _rejections_per_worker(directory: Path) -> dict[str, float]:
    """What each worker wrote to the shared directory (its file is named by its process id)."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(file))
        counts[file.stem] = sum(v for key, v, *_ in values if "webhooks_rejected" in key and "secret" in key)
    return counts


def _workers_that_counted(directory: Path) -> int:
    return len([n for n in _rejections_per_worker(directory).values() if n > 0])


def test_two_workers_add_up_their_counters(ctx: AppContext, tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    env = {
        "CONSENT_SYNC_DATABASE__URL": ctx.settings.database.url,
        "CONSENT_SYNC_WEBHOOKS__SECRET": SECRET,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "k" * 32,
        "CONSENT_SYNC_LOGGING__LEVEL": "ERROR",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    (shared / "counter_1.db").parent.mkdir()
    (shared / "counter_1.db").write_bytes(b"stale")  # a previous run's file is wiped at start
    with serving(env, workers=2) as server:
        calls = 0
        while calls < CALLS or (_workers_that_counted(shared) < 2 and calls < MOST_CALLS):
            answer = requests.post(
                f"{server.url}/webhooks/mailchimp/wrong",
                data=b"type=x",
                timeout=10,
                headers={"Connection": "close"},
            )
            assert answer.status_code == 404
            calls += 1
        scraped = {_rejected(server.url) for _ in range(20)}
        per_worker = _rejections_per_worker(shared)
    assert len([n for n in per_worker.values() if n > 0]) == 2  # both workers run and write their own counts
    assert scraped == {float(calls)}  # either worker's scrape counts both workers' events
    assert sum(per_worker.values()) == calls
