"""The chaos run's short form (``bench/chaos.py --short``): every figure that must be zero is zero.

It runs ``serve``, the daemon and the sandbox as processes on a private PostgreSQL cluster (CI runs as
root with PostgreSQL's binaries, so the server restart runs there); without one it uses a database of
its own beside ``CONSENT_SYNC_TEST_DATABASE_URL``'s for the connection loss, else SQLite.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from bench.chaos_database import postgres_binaries
from tests.conftest import POSTGRES_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
MUST_BE_ZERO = ("duplicates applied twice", "opt-outs lost", "unlawful subscribes")


def _fallback_database() -> list[str]:
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        return []
    parsed = make_url(url)
    own = parsed.set(database=f"{parsed.database}_chaos").render_as_string(hide_password=False)
    return ["--database-url", own]


def _figure(output: str, name: str) -> int:
    found = re.search(rf"^{name}: (\d+)", output, re.MULTILINE)
    assert found is not None, f"no '{name}' line in:\n{output}"
    return int(found.group(1))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_short_chaos_run_loses_nothing_and_applies_nothing_twice() -> None:
    command = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--short", "--seed", "13"]
    done = subprocess.run(
        command + _fallback_database(), cwd=ROOT, capture_output=True, text=True, timeout=230, check=False
    )
    output = done.stdout
    assert done.returncode == 0, output[-4000:] + done.stderr[-4000:]
    for name in MUST_BE_ZERO:
        assert _figure(output, name) == 0, output
    acknowledged = re.search(
        r"^events applied exactly once: (\d+) of (\d+); lost (\d+)", output, re.MULTILINE
    )
    assert acknowledged is not None, output
    once, of, lost = (int(n) for n in acknowledged.groups())
    assert (once, lost) == (of, 0)
    assert of > 100
    assert "NOT RECOVERED" not in output
    for fault in ("kill -9 daemon", "kill -9 serve", "connection loss", "list_id changed"):
        assert f"recovered after {fault}" in output, output
    assert "nightly reconcile --full refused: True" in output
    if os.geteuid() == 0 and postgres_binaries() is not None:  # CI: the server restart must run
        assert "database cluster" in output, output
        assert "recovered after server restart" in output, output
