"""The README is true: its examples run as shown, in order, after the demo, and every command it names exists.

``test_the_readme_transcript_runs_as_shown`` runs, in a fresh directory, the quick start's demo and its
``export CONSENT_SYNC_CONFIG=…`` line, then every ``$`` line of the README's indented blocks in order, each as
a real ``consent-sync`` process (``export`` lines set the environment of the commands after them). A
command must exit 0, or the code its ``# exits N`` comment names; the lines shown under it must appear in
its output in that order (a line ``…`` skips any number of lines, ``…`` inside a line stands for any text,
and dates match any date: the demo's dates are relative to today). Blocks without ``$`` (installation,
docker, benchmarks, synopses) are not run; ``test_every_command_the_readme_names_exists`` checks that each
``consent-sync …`` they name is a command and that its ``--options`` are that command's.
"""

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from connector.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
ELLIPSIS = "…"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EXITS = re.compile(r"#\s*exits (\d+)")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def _blocks(text: str) -> list[list[str]]:
    """The README's indented code blocks, as lists of lines without the indentation."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    "):
            current.append(line[4:])
        elif line.strip() == "" and current:
            current.append("")
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return [[line for line in block if line.strip()] for block in blocks]


def _transcript(text: str) -> list[Step]:
    steps: list[Step] = []
    for block in _blocks(text):
        if not any(line.startswith("$ ") for line in block):
            continue
        for line in block:
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            else:
                steps[-1].expected.append(line)
    return steps


def _quick_start_export(text: str) -> str:
    for block in _blocks(text):
        for line in block:
            if line.startswith("export CONSENT_SYNC_CONFIG="):
                return line
    raise AssertionError("the README's quick start exports no CONSENT_SYNC_CONFIG")


def _normal(line: str) -> str:
    return " ".join(DATE.sub("DATE", line).split())


def _matches(pattern: str, line: str) -> bool:
    parts = [re.escape(part) for part in _normal(pattern).split(ELLIPSIS)]
    return re.fullmatch(".*".join(parts), _normal(line)) is not None


def _shown_in(expected: list[str], output: list[str]) -> bool:
    """Each expected line matches an output line, in order; ``…`` lines skip."""
    position = 0
    for pattern in expected:
        if pattern.strip() == ELLIPSIS:
            continue
        while position < len(output) and not _matches(pattern, output[position]):
            position += 1
        if position == len(output):
            return False
        position += 1
    return True


def _export(line: str, env: dict[str, str]) -> None:
    name, _, value = shlex.split(line, comments=True)[1].partition("=")
    env[name] = value


def _run(step: Step, env: dict[str, str], cwd: Path) -> None:
    if step.command.startswith("export "):
        _export(step.command, env)
        return
    wanted = EXITS.search(step.command)
    code = int(wanted.group(1)) if wanted else 0
    done = subprocess.run(
        ["bash", "-c", step.command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    output = (done.stdout + done.stderr).splitlines()
    shown = "\n".join(output[:60])
    assert done.returncode == code, f"$ {step.command}\nexit {done.returncode}, not {code}:\n{shown}"
    assert _shown_in(step.expected, output), f"$ {step.command}\nexpected {step.expected}\ngot:\n{shown}"
    assert not any(line.strip().endswith(": API calls") for line in output), "a stray progress label"


def test_the_readme_transcript_runs_as_shown(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    steps = _transcript(text)
    assert any(step.command.startswith("consent-sync demo") for step in steps)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONSENT_SYNC_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    _run(Step("consent-sync demo"), env, tmp_path)  # the quick start
    _export(_quick_start_export(text), env)
    for step in steps:
        _run(step, env, tmp_path)


def test_a_failed_command_writes_no_files(tmp_path: Path) -> None:
    """As the README says: an uninitialised store is refused (exit 3) and nothing is created."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONSENT_SYNC_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for command in ("explain ola.hansen@example.no", "consent grant a@firma.no -p newsletter", "status"):
        done = subprocess.run(
            ["bash", "-c", f"consent-sync {command}"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 3, done.stderr
        assert "not initialised" in done.stderr
        assert list(tmp_path.iterdir()) == []


COMMAND = re.compile(r"(?:^|[\s`(])(?:\.venv/bin/)?consent-sync((?: [a-z][a-z-]*)*)((?: [^`|]*)?)")


def _named_commands(text: str) -> set[tuple[str, frozenset[str]]]:
    """Every ``consent-sync <words> …`` in the README's code blocks and inline code, with its options."""
    found = set()
    snippets = re.findall(r"`([^`\n]+)`", text) + ["\n".join(block) for block in _blocks(text)]
    for snippet in snippets:
        for line in snippet.splitlines():
            line = line.removeprefix("$ ")
            for match in COMMAND.finditer(line):
                words = match.group(1).split()
                options = frozenset(re.findall(r"(?<![\w-])--[a-z][a-z-]*", match.group(2)))
                found.add((" ".join(words), options))
    return found


def _command(words: list[str]) -> Any:
    """The command the words name: group by group, until a command (the words after it are arguments)."""
    command: Any = typer.main.get_command(app)
    for word in words:
        if not hasattr(command, "commands"):  # a command, not a group (typer has its own click)
            break
        found = command.commands.get(word)
        assert found is not None, f"consent-sync {' '.join(words)}: {word!r} is no command"
        command = found
    return command


def test_every_command_the_readme_names_exists() -> None:
    named = _named_commands(README.read_text(encoding="utf-8"))
    for words, options in sorted(named, key=str):
        path = words.split()
        if path[:1] == ["consent-sync"]:  # `docker compose exec consent-sync consent-sync …`: the service
            path = path[1:]
        command = _command(path)
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        missing = sorted(options - known - {"--help"})
        assert not missing, f"consent-sync {words}: no option {missing}"
    assert len(named) > 30


@pytest.mark.parametrize("command", ["sandbox", "subject erase", "serve"])
def test_the_options_the_readme_relies_on_are_there(command: str) -> None:
    help_text = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200).output
    wanted = {"sandbox": ["--dc", "--api-keys"], "subject erase": ["--yes"], "serve": ["--workers"]}[command]
    assert all(option in help_text for option in wanted)
