"""The daemon runs the doctor at start: a wrong list id is logged as a warning, a bad database refused."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox.knobs import SandboxKnobs
from tests.daemon.conftest import CONSENT_SYNC, Deployment, deploy, wait_for


@pytest.fixture
def deployment(deployment_url: str, tmp_path: Path) -> Iterator[Deployment]:
    yield from deploy(deployment_url, tmp_path, SandboxKnobs())


def test_the_daemon_starts_and_warns_about_a_wrong_list_id(deployment: Deployment) -> None:
    audiences = json.dumps([{"name": "main", "list_id": "ab12cd34ef", "purposes": ["newsletter"]}])
    daemon = deployment.start(CONSENT_SYNC_AUDIENCES=audiences)

    def warnings() -> list[dict[str, object]]:
        lines = [json.loads(x) for x in daemon.logs().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("event") == "doctor.check.failed"]

    wait_for(lambda: bool(warnings()), 30, "the doctor's warning")
    (warning,) = warnings()
    assert warning["level"] == "warning"
    assert warning["subject"] == "audiences.main.list_id"
    assert "has no audience 'ab12cd34ef'" in str(warning["detail"])
    assert daemon.process.poll() is None  # still running


def test_the_daemon_refuses_an_uninitialised_database(deployment: Deployment, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    env = deployment.environment(CONSENT_SYNC_DATABASE__URL=f"sqlite:///{fresh}")
    done = subprocess.run(
        [str(CONSENT_SYNC), "daemon", "--metrics-port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1] == (
        f"error: database: not initialised (no file {fresh}): run `consent-sync db upgrade`"
    )
    assert "Traceback" not in done.stderr
    assert not fresh.exists()
