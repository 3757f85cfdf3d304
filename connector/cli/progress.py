"""Progress bars for long commands: rich on a terminal (stderr), nothing at all otherwise."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Advance = Callable[[int], None]
"""Called with how many more units are done."""


def shown() -> bool:
    """Whether progress is drawn: only when stderr is a terminal (never in logs, pipes or CI)."""
    return sys.stderr.isatty()


@contextmanager
def bar(label: str, total: int | None) -> Iterator[Advance]:
    """A bar labelled ``label`` over ``total`` units (a spinner when unknown); quiet off a terminal."""
    if not shown():
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _nothing(_n: int) -> None:
    return None


@contextmanager
def status(label: str) -> Iterator[Callable[[str], None]]:
    """One line under ``label`` (rich, stderr), redrawn with each text given; quiet off a terminal."""
    if not shown():
        yield _ignore
        return
    from rich.console import Console

    with Console(stderr=True).status(label) as live:
        yield lambda text: live.update(f"{label}: {text}")


def _ignore(_text: str) -> None:
    return None
