"""Running ``consent-sync`` in-process as a user would: an environment on the test database (the ``env``
fixture, a plugin of ``tests/conftest.py``), and ``run``."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings of a command run in an empty working directory, on the test database."""
    monkeypatch.chdir(tmp_path)
    return {
        "CONSENT_SYNC_DATABASE__URL": database_url,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "cli-test-key",
        "CONSENT_SYNC_LOGGING__FORMAT": "json",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``consent-sync ARGS``."""
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr
