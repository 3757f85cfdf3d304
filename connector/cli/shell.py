"""What every command needs: the settings, the store, output, and one-line errors with exit codes.

Exit codes: 0 success, 1 operational failure, 2 bad input (nothing was written), 3 bad configuration.
This module imports nothing from the commands, and only light modules at import time: what loading the
settings or opening the store needs is imported when a command asks for it.
"""

from __future__ import annotations

import gc
import getpass
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from connector.errors import ConfigError, ConsentSyncError, InputError

if TYPE_CHECKING:
    from connector.services.context import AppContext, Origin
    from connector.settings import Settings

_T = TypeVar("_T")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $CONSENT_SYNC_CONFIG or ./consent-sync.toml).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
EmailArgument = Annotated[str, typer.Argument(help="The contact's e-mail address.", show_default=False)]
AudienceOption = Annotated[
    str | None, typer.Option("--audience", help="Audience name (default: every configured audience).")
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="When it happened (YYYY-MM-DD or ISO 8601; default now).")
]


HELP_WIDTH = 120
"""Help is laid out this wide at most; option names are never cut, whatever the terminal's width."""


def group(help_text: str) -> typer.Typer:
    """A command group laid out as every other: plain help (no boxes that cut names), no bare run."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"max_content_width": HELP_WIDTH},
    )


class _State:
    config_file: Path | None = None
    collector_thresholds: tuple[int, int, int] | None = None


state = _State()
"""What the root callback read from the command line (``--config``), and the garbage collector's
thresholds while a process starts (:func:`start_up`)."""

START_UP_THRESHOLD = 100_000
"""Allocations between young collections while a command starts (the usual is 700)."""


def start_up() -> None:
    """The entry point starts a command: hold the garbage collector back until :func:`started`.

    Start-up allocates what lives until the process exits (modules, classes, settings and table
    schemas): collecting while it imports finds almost nothing, yet took a tenth of a one-contact
    command's CPU time. The collector still runs, rarely, for a command that never says it started.
    """
    state.collector_thresholds = gc.get_threshold()
    gc.set_threshold(START_UP_THRESHOLD, *state.collector_thresholds[1:])


def started() -> None:
    """The command imported what it uses and starts its work (:func:`settings` says so for it).

    What start-up made leaves the collector's generations (``gc.freeze``): no later collection walks
    it again, nor the full one at exit, which took another quarter of a one-contact command's CPU time;
    then the collector runs at its usual pace. Only in a process :func:`start_up` began (not a test
    invoking the app): a test process's objects are never frozen.
    """
    if state.collector_thresholds is None:
        return
    gc.freeze()
    gc.set_threshold(*state.collector_thresholds)
    state.collector_thresholds = None


def fail(exc: ConsentSyncError) -> NoReturn:
    """Print the one-line reason and exit with the code of its kind."""
    typer.echo(f"error: {exc}", err=True)
    code = 2 if isinstance(exc, InputError) else 3 if isinstance(exc, ConfigError) else 1
    raise SystemExit(code)


def run(work: Callable[[], _T]) -> _T:
    """``work()``, its :class:`ConsentSyncError` turned into a one-line error and an exit code."""
    try:
        return work()
    except ConsentSyncError as exc:
        fail(exc)


def settings(*, service: bool = False) -> Settings:
    """The settings (file and environment), loaded once per command, with logging configured (JSON for a
    ``service``: the daemon and ``serve``; the console format and warnings only for a human command).
    """
    from connector.logs import configure_logging
    from connector.settings import load_settings

    started()
    loaded = run(lambda: load_settings(state.config_file))
    configure_logging(loaded.logging, service=service)
    return loaded


def context(*, service: bool = False) -> AppContext:
    """The command's application context on a store at the current schema."""
    from connector.services.context import build_context
    from connector.store.migrate import require_current_schema, require_initialised

    loaded = settings(service=service)
    run(lambda: require_initialised(loaded.database.url))  # before anything creates a file
    ctx = run(lambda: build_context(loaded))
    run(lambda: require_current_schema(ctx.engine))
    return ctx


def origin() -> Origin:
    """Who recorded what a command writes: the operating system user."""
    from connector.services.context import Origin

    return Origin(actor=f"cli:{getpass.getuser()}", source="cli")


def audiences(ctx: AppContext, name: str | None) -> list[str]:
    """The audience named, or every configured one."""
    if name:
        return [run(lambda: ctx.settings.audience(name)).name]
    return [a.name for a in ctx.settings.audiences]


def when(at: str | None) -> datetime:
    """The ``--at`` option of an event: the moment given, or now."""
    return run(lambda: parse_moment(at, "--at")) or datetime.now(UTC)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_moment(text: str | None, where: str, *, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` (start of that day UTC, or its end) or an ISO 8601 date-time (UTC if no zone)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(where, f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
