"""``consent-sync export``: contacts with their current entitlements, as formula-safe CSV or JSON."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import typer
from sqlmodel import Session

from connector.exports.service import ExportRequest, entitled_contacts, scope_of
from connector.exports.table import document, header, row
from connector.exports.writer import ExportFormat, write_csv, write_json
from connector.services.context import AppContext


def export_command(
    audience: Annotated[str, typer.Option("--audience", help="The audience whose purposes are exported.")],
    purpose: Annotated[str | None, typer.Option("--purpose", help="Only this purpose.")] = None,
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="csv (formula-safe) or json.")
    ] = "csv",
    bom: Annotated[
        bool, typer.Option("--bom", help="Start the CSV with a UTF-8 byte order mark (Excel).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Contacts with what may be sent to them now (set-based, streamed). CSV cells are formula-safe."""
    from connector import cli as root  # the composition root: settings, context, error handling

    ctx = root._context()
    request = ExportRequest(audience=audience, purpose=purpose)
    count = root._run(lambda: export(ctx, request, output_format, bom, output))
    if output is not None:
        typer.echo(f"exported {count} contacts to {output}", err=True)


def export(
    ctx: AppContext, request: ExportRequest, output_format: str, bom: bool, output: Path | None
) -> int:
    scope = scope_of(ctx, request)
    with Session(ctx.engine) as session, _opened(output) as out:
        contacts = entitled_contacts(ctx, session)
        if output_format == "json":
            return write_json(out, (document(c, e, scope) for c, e in contacts))
        return write_csv(out, header(scope), (row(c, e, scope) for c, e in contacts), bom=bom)


@contextmanager
def _opened(output: Path | None) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8", newline="") as stream:
        yield stream
