"""A command's process holds the garbage collector back while it starts, then freezes what start-up made
and collects at the usual pace again; a process that only invokes the app (a test) is left alone."""

import gc
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app

_PROBE = (
    "import gc, sys, runpy\n"
    "sys.argv = ['consent-sync', *sys.argv[1:]]\n"
    "usual = gc.get_threshold()\n"
    "try:\n    runpy.run_module('connector.cli', run_name='__main__')\n"
    "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
    "print('RESTORED', gc.get_threshold() == usual, 'FROZEN', gc.get_freeze_count() > 10_000)\n"
)


def test_a_command_freezes_its_start_up_and_collects_as_usual_after(tmp_path: Path) -> None:
    env = {"CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'store.db'}", "PATH": "/usr/bin"}
    for args in (["db", "upgrade"], ["contact", "add", "kari@example.no"]):
        subprocess.run(
            [sys.executable, "-m", "connector.cli", *args],
            env=env,
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "explain", "kari@example.no"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "RESTORED True FROZEN True"
    # the store's connection was collected and closed at exit: SQLite folded its write-ahead log back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["consent-sync.key", "store.db"]


def test_invoking_the_app_in_a_process_leaves_its_collector_alone(tmp_path: Path) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    result = CliRunner().invoke(
        app, ["check-config"], env={"CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'store.db'}"}
    )
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == thresholds
    # Nothing was frozen. (The count may fall: frozen objects of earlier tests in this process that are
    # freed leave the permanent generation.)
    assert gc.get_freeze_count() <= frozen
