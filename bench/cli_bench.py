"""Whole-process start-up of the CLI: ``--help`` and one-contact commands on SQLite, beside a bare python.

    .venv/bin/python bench/cli_bench.py [--runs 7]

Prints the median wall time of each command over the runs (figures, never assertions). Targets (issue 14):
``--help`` ≤ 0.3 s, ``explain`` and ``consent grant`` ≤ 0.6 s.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "connector.cli"]
EMAIL = "ola.hansen@example.no"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        env = {**os.environ, "CONSENT_SYNC_LOGGING__LEVEL": "WARNING"}
        subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=cwd, check=True, capture_output=True)
        subprocess.run([*CLI, "contact", "add", EMAIL], env=env, cwd=cwd, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "consent-sync --help": [*CLI, "--help"],
            "consent-sync explain": [*CLI, "explain", EMAIL],
            "consent-sync consent grant": [
                *CLI,
                "consent",
                "grant",
                EMAIL,
                "-p",
                "newsletter",
                "--notice-version",
                "v1",
                "--method",
                "api",
            ],
        }
        for name, command in commands.items():
            times = [timed(command, env, cwd) for _ in range(runs)]
            print(f"{name:<28} median {statistics.median(times):.3f} s  (min {min(times):.3f}, {runs} runs)")


if __name__ == "__main__":
    main()
