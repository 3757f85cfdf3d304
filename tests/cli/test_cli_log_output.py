"""Human commands show their report, not log lines; the daemon and ``serve`` log JSON."""

import json
import subprocess
import sys
from pathlib import Path

from connector.logs import configure_logging
from connector.settings import LoggingSettings


def _consent_sync(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'store.db'}",
        "PATH": "/usr/bin",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_import_shows_its_report_and_no_json_log_lines(tmp_path: Path) -> None:
    assert _consent_sync(tmp_path, "db", "upgrade").returncode == 0
    (tmp_path / "people.csv").write_text("email,first_name\nkari@example.no,Kari\n", encoding="utf-8")
    done = _consent_sync(tmp_path, "import", "people.csv", "--source", "crm", "--apply")
    assert done.returncode == 0, done.stderr
    assert "import.applied" not in done.stderr
    assert not [line for line in done.stderr.splitlines() if line.startswith("{")]


def test_a_set_level_is_honoured(tmp_path: Path) -> None:
    assert _consent_sync(tmp_path, "db", "upgrade").returncode == 0
    (tmp_path / "people.csv").write_text("email\nkari@example.no\n", encoding="utf-8")
    done = _consent_sync(
        tmp_path, "import", "people.csv", "--source", "crm", "--apply", CONSENT_SYNC_LOGGING__LEVEL="INFO"
    )
    assert done.returncode == 0, done.stderr
    assert "import.applied" in done.stderr
    assert not [line for line in done.stderr.splitlines() if line.startswith("{")]


def test_services_log_json(capsys: object) -> None:
    import structlog

    configure_logging(LoggingSettings(), service=True)
    structlog.get_logger("t").info("service.started", workers=1)
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert json.loads(captured.err.strip().splitlines()[-1])["event"] == "service.started"
