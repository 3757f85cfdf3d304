"""``consent-sync export``: contacts with their current entitlements, as formula-safe CSV, JSON or Parquet."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from connector.cli import progress, shell


def export_command(
    audience: Annotated[str, typer.Option("--audience", help="The audience whose purposes are exported.")],
    purpose: Annotated[str | None, typer.Option("--purpose", help="Only this purpose.")] = None,
    output_format: Annotated[
        Literal["csv", "json", "parquet"],
        typer.Option("--format", help="csv (formula-safe), json, or parquet (needs consent-sync[parquet])."),
    ] = "csv",
    bom: Annotated[
        bool, typer.Option("--bom", help="Start the CSV with a UTF-8 byte order mark (Excel).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Contacts with what may be sent to them now (set-based, streamed). CSV cells are formula-safe."""
    from connector.exports.service import ExportRequest, export

    ctx = shell.context()
    request = ExportRequest(audience=audience, purpose=purpose)
    with progress.bar("exporting contacts", None) as advance:
        count = shell.run(lambda: export(ctx, request, output_format, bom, output, advance))
    if output is not None:
        typer.echo(f"exported {count} contacts to {output}", err=True)
