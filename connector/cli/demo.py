"""``consent-sync demo``: the whole story on a fresh machine, with the built-in sandbox."""

from pathlib import Path

import typer

from connector.cli import shell


def demo(
    database: Path = typer.Option(Path("consent-sync-demo.db"), help="SQLite file for the demo (recreated)."),
) -> None:
    """Run the sample flow on SQLite in the working directory and explain each contact."""
    from connector.demo import run_demo

    shell.started()
    run_demo(database)
