"""``consent-sync run``: the HTTP service and the scheduler in one process, one /metrics, SIGTERM → 0."""

import signal
import subprocess
from pathlib import Path

import requests

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import running_sandbox
from tests.daemon.conftest import CONSENT_SYNC, Deployment, free_port, wait_for


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_run_serves_http_schedules_and_stops_cleanly(deployment_url: str, tmp_path: Path) -> None:
    with running_sandbox(SandboxKnobs()) as sandbox:
        port = free_port()
        env = Deployment(deployment_url, sandbox, tmp_path).environment(CONSENT_SYNC_HTTP__PORT=str(port))
        log = tmp_path / "run.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(CONSENT_SYNC), "run"], env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(f"{base}/readyz") or process.poll() is not None, 30, "/readyz")
            assert process.poll() is None, log.read_text()
            leading = "consent_sync_daemon_leader 1.0"
            wait_for(lambda: leading in requests.get(f"{base}/metrics", timeout=2).text, 10, "leadership")
            assert "consent_sync_webhooks_received" in requests.get(f"{base}/metrics", timeout=2).text
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
