"""The CLI starts at once: loading it imports no web framework, migrations, Arrow or sandbox."""

import subprocess
import sys

HEAVY = ("fastapi", "alembic", "pyarrow", "connector.sandbox", "sqlalchemy", "uvicorn", "connector.api")


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
