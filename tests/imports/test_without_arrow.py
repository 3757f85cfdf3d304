"""Without the ``parquet`` extra (no ``pyarrow``): imports plan per row and apply the same, and a Parquet
export fails at once with one line naming the extra, writing nothing. Run as a user would, in a process
where ``import pyarrow`` fails."""

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
WITHOUT_ARROW = (
    "import sys; sys.modules['pyarrow'] = None\n"
    "from connector.cli import main\n"
    "sys.argv[0] = 'consent-sync'\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    assert sys.modules.get('pyarrow') is None, 'pyarrow was imported'\n"
)


def _consent_sync(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'store.db'}",
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "without-arrow-key",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_ARROW, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_pyarrow_an_import_plans_per_row_and_parquet_names_the_extra(tmp_path: Path) -> None:
    assert _consent_sync(tmp_path, "db", "upgrade").returncode == 0
    source = FIXTURES / "contacts_utf8_comma.csv"
    imported = _consent_sync(tmp_path, "import", str(source), "--apply", "--json")
    assert imported.returncode == 0, imported.stderr
    counts = json.loads(imported.stdout)["counts"]
    assert (counts["rows_read"], counts["rows_rejected"], counts["contacts_new"]) == (5, 0, 5)

    exported = _consent_sync(tmp_path, "export", "--audience", "main", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    assert len(json.loads(exported.stdout)) == 5

    target = tmp_path / "contacts.parquet"
    refused = _consent_sync(
        tmp_path, "export", "--audience", "main", "--format", "parquet", "-o", str(target)
    )
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: Parquet export needs pyarrow: pip install 'consent-sync[parquet]'"
    )
    assert not target.exists()
