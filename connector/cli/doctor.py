"""``consent-sync doctor``: the configuration checked online, one line per check; exit 1 if any fails."""

from typing import Annotated

import typer

from connector.cli import shell


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check the API key and data centre, each audience's list, merge fields, segments and webhook,
    Transactional, and the database; say what to fix. Exit 1 if any check fails."""

    from connector.doctor import diagnose

    settings = shell.settings()
    report = shell.run(lambda: diagnose(settings))
    if as_json:
        shell.print_json(report.document())
    else:
        for check in report.checks:
            typer.echo(check.line())
        typer.echo("all checks passed" if report.ok else f"{len(report.failures())} check(s) failed")
    if not report.ok:
        raise typer.Exit(1)
