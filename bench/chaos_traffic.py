"""The chaos run's traffic: the workload's timeline played against ``serve``, the sandbox and the CLI.

Webhook posts go out on a few threads and are retried until ``serve`` answers 200, as Mailchimp retries
a delivery that failed (``serve`` may be killed or its database gone at that moment); only a 200 counts
as acknowledged. A person's unsubscribe is made in the sandbox, which delivers its own webhook. An import
that fails (its database restarting) is run again, as an operator would.
"""

import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.chaos_processes import run_cli
from bench.chaos_workload import Import, PersonUnsubscribe, Post, Workload
from connector.core.remote import subscriber_hash

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GIVE_UP_AFTER_S = 90.0


@dataclass
class Traffic:
    workload: Workload
    webhook_url: str
    sandbox_url: str
    list_id: str
    environment: dict[str, str]
    directory: Path
    acked: list[bytes] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    imports: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def play(self) -> None:
        """Every action at its offset; returns when all of them are done (or given up)."""
        started = time.monotonic()
        pending: list[Future[None]] = []
        with ThreadPoolExecutor(4, "chaos-post") as posts, ThreadPoolExecutor(1, "chaos-import") as imports:
            for offset, action in self.workload.timeline:
                time.sleep(max(0.0, started + offset - time.monotonic()))
                match action:
                    case Post():
                        pending.append(posts.submit(self._post, action))
                    case PersonUnsubscribe():
                        pending.append(posts.submit(self._unsubscribe, action))
                    case Import():
                        pending.append(imports.submit(self._import, action))
            for each in pending:
                each.result()

    def _post(self, post: Post) -> None:
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while time.monotonic() < deadline:
            try:
                answer = requests.post(self.webhook_url, data=post.body, headers=FORM, timeout=10)
                status = str(answer.status_code)
            except requests.RequestException as exc:
                status = type(exc).__name__
            if status == "200":
                with self._lock:
                    self.acked.append(post.body)
                return
            with self._lock:
                self.refusals[status] += 1
            time.sleep(0.2)
        with self._lock:
            self.refusals["given up"] += 1

    def _unsubscribe(self, person: PersonUnsubscribe) -> None:
        member = subscriber_hash(person.email)
        url = f"{self.sandbox_url}/_sandbox/lists/{self.list_id}/members/{member}/unsubscribe"
        answer = requests.post(url, json={"campaign_id": person.campaign}, timeout=30)
        if answer.status_code != 200:
            with self._lock:
                self.refusals[f"sandbox unsubscribe {answer.status_code}"] += 1

    def _import(self, job: Import) -> None:
        path = self.directory / job.name
        path.write_text(job.text, encoding="utf-8")
        for _ in range(5):
            done = run_cli(self.environment, "import", str(path), "--source", "chaos", "--apply")
            if done.returncode == 0:
                self.imports.append(job.name)
                return
            with self._lock:
                self.refusals[f"import exit {done.returncode}"] += 1
            time.sleep(1.0)
