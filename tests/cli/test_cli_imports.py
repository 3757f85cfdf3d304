"""The CLI starts at once: loading it imports no web framework, migrations, Arrow or sandbox."""

import subprocess
import sys
from pathlib import Path

HEAVY = (
    "fastapi",
    "alembic",
    "pyarrow",
    "connector.sandbox",
    "sqlalchemy",
    "uvicorn",
    "connector.api",
    # nor what only a command that runs needs: settings (pydantic), rich, the e-mail validator
    "pydantic",
    "connector.settings",
    "rich",
    "email_validator",
)


def test_importing_the_cli_imports_none_of_the_heavy_modules() -> None:
    probe = f"import sys, connector.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""


def test_help_lists_every_command_group() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "connector.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("demo", "doctor", "import", "sync", "reconcile", "serve", "daemon", "audience", "subject"):
        assert f"  {name} " in shown


def test_one_contact_commands_load_no_web_framework_migrations_arrow_sandbox_or_orm(tmp_path: Path) -> None:
    env = {"CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'store.db'}", "PATH": "/usr/bin"}
    for args in (["db", "upgrade"], ["contact", "add", "kari@example.no"]):
        subprocess.run(
            [sys.executable, "-m", "connector.cli", *args],
            env=env,
            cwd=tmp_path,  # the suppression key file is made in the working directory
            check=True,
            capture_output=True,
        )
    unwanted = (
        "fastapi",
        "alembic",
        "pyarrow",
        "connector.sandbox",
        "uvicorn",
        "connector.api",
        "connector.sync",
        # and, for a start at once, no ORM, no PostgreSQL driver, no structlog/rich, no phone metadata,
        # and no e-mail validator for a plain address:
        "sqlmodel",
        "sqlalchemy.orm",
        "connector.store.tables",
        "psycopg",
        "structlog",
        "rich",
        "phonenumbers",
        "email_validator",
    )
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['consent-sync', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('connector.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"print('LOADED=' + ','.join(m for m in {unwanted!r} if m in sys.modules))\n"
    )
    for args in (
        ["explain", "kari@example.no"],
        [
            "consent",
            "grant",
            "kari@example.no",
            "-p",
            "newsletter",
            "--notice-version",
            "v1",
            "--method",
            "api",
        ],
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "LOADED=", (args, done.stdout)


def test_help_imports_no_command_module() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['consent-sync', '--help']\n"
        "try:\n    runpy.run_module('connector.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.startswith('connector.cli.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "LOADED=connector.cli.root,connector.cli.shell"


def test_the_command_table_agrees_with_each_command() -> None:
    """Each row's one-line help is the first sentence of the command's own help, and it loads."""
    from typer._click.utils import make_default_short_help

    from connector.cli.root import COMMANDS, load

    for name, entry in COMMANDS.items():
        command = load(name, entry)
        assert command.name == name
        assert entry.help == make_default_short_help(command.help or "", 10**6), name
