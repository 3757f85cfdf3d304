"""Whole-process start-up of the CLI: ``--help`` and one-contact commands on SQLite, beside a bare python.

    .venv/bin/python bench/cli_bench.py [--runs 7] [--imports 12] [--baseline DIR]

The commands run as an installed package runs them: with compiled bytecode. ``pip install`` compiles
every module it installs, but an editable checkout is compiled only where the interpreter may write the
cache, and a machine may forbid that (``PYTHONDONTWRITEBYTECODE=1``): then every start compiles each of our
modules from source again. So the bench first compiles the ``connector`` package the commands import
(``compileall``), and runs the commands with ``PYTHONDONTWRITEBYTECODE`` removed from their environment;
the output's first lines say which package and how. Each command runs once to warm the caches (the page
cache), then ``--runs`` times. Prints the median wall time of each command and the median CPU time
(user + system) of its process, which depends less on the machine's load than the wall time (figures,
never assertions), and the load average before and after. The row "libraries only" imports just the
libraries a one-contact command needs (:data:`LIBRARIES`): the floor under it. ``--imports N`` adds, for
each command, where its imports spend their time by ``python -X importtime`` (one run): the N packages
whose modules took longest, and the total. ``--baseline DIR`` measures another version beside this one,
a before/after under the same load: the ``connector`` package in DIR (e.g. ``git archive main connector
| tar -x -C DIR``), its runs taking turns with this one's.

Targets (issue 14): ``--help`` ≤ 0.3 s, ``explain`` and ``consent grant`` ≤ 0.6 s.
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
LIBRARIES = (
    "import gc; gc.set_threshold(100_000, 10, 10)\n"
    "import typer.main, typer._adapters, pydantic_settings, sqlalchemy, sqlalchemy.dialects.sqlite\n"
    "gc.freeze()"
)
"""What a one-contact command cannot start without: the parser (typer, which coerces values with
pydantic), the settings (pydantic-settings) and SQLAlchemy Core with its SQLite dialect, imported with
the garbage collector held back as the CLI holds it (``connector.cli.shell.start_up``/``started``).
Their import alone is the floor under ``explain`` and ``consent grant``; the rest is ours and the
command's work."""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compiled_package(env: dict[str, str], cwd: Path) -> Path:
    """The ``connector`` package the commands import, compiled to bytecode now."""
    where = subprocess.run(
        [sys.executable, "-c", "import connector, os; print(os.path.dirname(connector.__file__))"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], env=env, check=True)
    return Path(where)


def import_costs(command: list[str], env: dict[str, str], cwd: Path, count: int) -> list[str]:
    """Where one run of ``command`` spends its import time (``-X importtime``): the modules' own times
    summed per distribution (``connector`` per sub-package), the ``count`` largest, and their total."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], env=env, cwd=cwd, capture_output=True, text=True
    )
    spent: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        package = ".".join(parts[:2]) if parts[0] == "connector" else parts[0]
        spent[package] = spent.get(package, 0) + int(own)
    largest = sorted(spent.items(), key=lambda item: -item[1])[:count]
    lines = [f"{us / 1000:7.1f} ms  {package}" for package, us in largest]
    return [*lines, f"{sum(spent.values()) / 1000:7.1f} ms  all imports"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--imports", type=int, default=0, metavar="N", help="show N packages' import times per command"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also measure the connector package in DIR (git archive COMMIT connector | tar -x -C DIR),\n"
        "its runs alternating with this one's so both see the same load (same schema head)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["CONSENT_SYNC_LOGGING__LEVEL"] = "WARNING"
        variants = {"": env}
        if args.baseline:
            path = os.pathsep.join(p for p in (str(args.baseline.resolve()), env.get("PYTHONPATH")) if p)
            variants["  baseline"] = {**env, "PYTHONPATH": path}
        packages = {label: compiled_package(variant, cwd) for label, variant in variants.items()}
        subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=cwd, check=True, capture_output=True)
        subprocess.run([*CLI, "contact", "add", EMAIL], env=env, cwd=cwd, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "consent-sync --help": [*CLI, "--help"],
            "libraries only (import)": [sys.executable, "-c", LIBRARIES],
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
        for label, package in packages.items():
            print(f"package{label} {package} (compileall; PYTHONDONTWRITEBYTECODE unset for the commands)")
        print(f"python {sys.executable}; SQLite store in a temporary folder")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
        for name, command in commands.items():
            done: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
            for variant in variants.values():
                timed(command, variant, cwd)  # warm-up
            for _ in range(args.runs):
                for label, variant in variants.items():
                    done[label].append(timed(command, variant, cwd))
            for label, runs_done in done.items():
                walls = [wall for wall, _ in runs_done]
                cpus = [cpu for _, cpu in runs_done]
                print(
                    f"{name + label:<38} wall median {statistics.median(walls):.3f} s (min {min(walls):.3f})"
                    f"  cpu median {statistics.median(cpus):.3f} s (min {min(cpus):.3f})  {args.runs} runs"
                )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (after)")
        if args.imports:
            for name, command in commands.items():
                if command[:3] == CLI:
                    print(f"\n{name}: import time per package (-X importtime, one run, own times)")
                    print("\n".join(import_costs(command, env, cwd, args.imports)))


if __name__ == "__main__":
    main()
