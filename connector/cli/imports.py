"""``consent-sync import``: dry-run by default, ``--apply`` writes exactly what the dry-run shows."""

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli import progress, shell
from connector.imports.estimate import estimated_rows
from connector.imports.parsing.headers import RowKind

if TYPE_CHECKING:
    from connector.imports.planner import Progress

PROGRESS_MIN_BYTES = 256 * 1024
"""Files (together) larger than this, a few thousand rows, get a progress bar on stderr."""


def import_command(
    files: Annotated[list[Path], typer.Argument(help="CSV files, or zips of Mailchimp export files.")],
    kind: Annotated[
        RowKind | None,
        typer.Option("--kind", help="What the files hold (default: told by their headers)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="Who attests the consent evidence in the files (P6); without it no consent."
        ),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=field (repeatable); field 'ignore' drops a column."),
    ] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Override encoding detection.")] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="Whose purposes a claim without a purpose column covers.")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the plan (default: dry-run, write nothing).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (no progress bar).")
    ] = False,
) -> None:
    """Import contacts, consents, relationships or a Mailchimp export. Dry-run unless --apply."""
    from connector.imports.parsing.rows import parse_column_map
    from connector.imports.report import plan_document, render_text
    from connector.imports.service import ImportRequest, run_import

    ctx = shell.context()
    request = ImportRequest(
        paths=files,
        source=source,
        kind=kind,
        column_map=shell.run(lambda: parse_column_map(column_map or [])),
        encoding=encoding,
        audience=audience,
        apply=apply,
        operator=f"cli:{getpass.getuser()}",
    )
    show_progress = not as_json and sum(_size(p) for p in files) > PROGRESS_MIN_BYTES
    with _progress(files, show_progress) as advance:
        plan = shell.run(lambda: run_import(ctx, request, advance))
    if as_json:
        typer.echo(json.dumps(plan_document(plan, apply), indent=2, ensure_ascii=False))
        return
    for line in render_text(plan, apply):
        typer.echo(line)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextmanager
def _progress(paths: list[Path], shown: bool) -> "Iterator[Progress | None]":
    if not shown or not progress.shown():
        yield None
        return
    with progress.bar("reading", estimated_rows(paths)) as advance:
        yield advance
