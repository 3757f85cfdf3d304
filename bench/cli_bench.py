"""Whole-process start-up of the CLI: ``--help`` and one-contact commands on SQLite, beside a bare python.

    .venv/bin/python bench/cli_bench.py [--runs 7]

Each command runs once to warm the caches (bytecode, the page cache), then ``--runs`` times. The
commands run with bytecode caching on, as an installed package does (``PYTHONDONTWRITEBYTECODE`` is
dropped from their environment: without the cache every run compiles each of our modules again). Prints the
median wall time of each command and the median CPU time (user + system) of its process, which depends
less on the machine's load than the wall time (figures, never assertions). Targets (issue 14):
``--help`` ≤ 0.3 s, ``explain`` and ``consent grant`` ≤ 0.6 s.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "connector.cli"]
EMAIL = "ola.hansen@example.no"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["CONSENT_SYNC_LOGGING__LEVEL"] = "WARNING"
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
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
        for name, command in commands.items():
            timed(command, env, cwd)  # warm-up
            runs_done = [timed(command, env, cwd) for _ in range(runs)]
            walls = [wall for wall, _ in runs_done]
            cpus = [cpu for _, cpu in runs_done]
            print(
                f"{name:<28} wall median {statistics.median(walls):.3f} s (min {min(walls):.3f})"
                f"  cpu median {statistics.median(cpus):.3f} s (min {min(cpus):.3f})  {runs} runs"
            )


if __name__ == "__main__":
    main()
