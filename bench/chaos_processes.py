"""The chaos run's processes: ``consent-sync sandbox``, ``serve`` and ``daemon``, each its own process.

Every process logs to a file in the run's directory; ``kill_9`` sends SIGKILL, ``start`` starts it again
(what a supervisor such as compose's ``restart: always`` does). A process that exits by itself is
restarted by :meth:`Fleet.supervise` and counted, since that is a finding.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def answers(url: str, status: int = 200) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == status
    except requests.RequestException:
        return False


@dataclass
class Managed:
    """One long-running process: its command, environment, log file and the ``Popen`` while it runs."""

    name: str
    command: list[str]
    environment: dict[str, str]
    log: Path
    ready_url: str
    process: "subprocess.Popen[bytes] | None" = None
    starts: int = 0
    unexpected_exits: list[int] = field(default_factory=list)

    def start(self, timeout: float = 40) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to answer (``wait_ready`` does)."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command, env=self.environment, stdout=sink, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 40) -> None:
        if not wait_until(lambda: answers(self.ready_url) or not self.running(), timeout):
            raise SystemExit(
                f"{self.name} did not answer {self.ready_url} within {timeout} s; see {self.log}"
            )
        if not self.running():
            raise SystemExit(f"{self.name} exited at start; see {self.log}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill_9()

    def restart_if_exited(self) -> bool:
        if self.process is None or self.running():
            return False
        self.unexpected_exits.append(self.process.returncode)
        self.start()
        return True


def base_environment(config: Path, url: str, sandbox_url: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_SYNC_")}
    env.update(
        CONSENT_SYNC_CONFIG=str(config),
        CONSENT_SYNC_DATABASE__URL=url,
        CONSENT_SYNC_MAILCHIMP__BASE_URL=sandbox_url,
        CONSENT_SYNC_MAILCHIMP__API_KEY="chaos-us1",
        CONSENT_SYNC_WEBHOOKS__SECRET=secret,
        CONSENT_SYNC_SECURITY__SUPPRESSION_KEY="chaos-suppression-key",
        CONSENT_SYNC_LOGGING__FORMAT="json",
        CONSENT_SYNC_LOGGING__LEVEL="WARNING",
    )
    return env


def sandbox_process(directory: Path, port: int, seed: int, faults: bool) -> Managed:
    command = [str(CONSENT_SYNC), "sandbox", "--port", str(port), "--state", str(directory / "sandbox.db")]
    command += ["--seed", str(seed), "--webhook-time-scale", "0.002", "--webhook-timeout-s", "2"]
    if faults:  # 20 % 429, 5 % 500, 2 % timeouts (slower than the client's 2 s timeout)
        command += ["--fault-rate-429", "0.2", "--fault-rate-5xx", "0.05"]
        command += ["--fault-rate-slow", "0.02", "--slow-ms", "3000"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_SYNC_")}
    url = f"http://127.0.0.1:{port}/_sandbox/stats"
    return Managed("sandbox", command, env, directory / "sandbox.log", url)


def serve_process(directory: Path, port: int, env: dict[str, str]) -> Managed:
    command = [str(CONSENT_SYNC), "serve", "--port", str(port), "--host", "127.0.0.1"]
    return Managed("serve", command, env, directory / "serve.log", f"http://127.0.0.1:{port}/readyz")


def daemon_process(directory: Path, port: int, env: dict[str, str]) -> Managed:
    command = [str(CONSENT_SYNC), "daemon", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
    return Managed("daemon", command, env, directory / "daemon.log", f"http://127.0.0.1:{port}/healthz")


def run_cli(env: dict[str, str], *arguments: str, timeout: float = 180) -> "subprocess.CompletedProcess[str]":
    command = [str(CONSENT_SYNC), *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
