"""Configuration mistakes through the command line: exit code, one line on stderr, no traceback, no files."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from tests.conftest import POSTGRES_VARIABLE

runner = CliRunner()
CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")
POSTGRES_URL = os.environ.get(POSTGRES_VARIABLE)
"""Read before the ``workdir`` fixture clears every ``CONSENT_SYNC_`` variable."""
ACCEPTED = "use sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE (or postgres://, postgresql+psycopg://)"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: the default SQLite store and key file would land here."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("CONSENT_SYNC_"):
            monkeypatch.delenv(name)
    return tmp_path


def _one_line_error(env: dict[str, str], *args: str, code: int) -> str:
    """Run ``consent-sync ARGS``; assert the exit code, no traceback, and one line on stderr."""
    result = runner.invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("command", [("status",), ("check-config",), ("doctor",), ("db", "upgrade")])
def test_an_unknown_database_scheme_names_the_key_and_the_accepted_schemes(
    workdir: Path, command: tuple[str, ...]
) -> None:
    env = {"CONSENT_SYNC_DATABASE__URL": "mysql://shop:hunter2@db.example/shop"}
    message = _one_line_error(env, *command, code=3)
    assert message == f"database.url: unknown scheme 'mysql'; {ACCEPTED}"
    assert "hunter2" not in message
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("url", ["consent-sync.db", "postgresql://u@h:port/d"])
def test_a_malformed_database_url_is_one_line(workdir: Path, url: str) -> None:
    message = _one_line_error({"CONSENT_SYNC_DATABASE__URL": url}, "status", code=3)
    assert message.startswith("database.url: not a")
    assert message.endswith(ACCEPTED)


def test_postgresql_and_postgres_urls_use_the_installed_psycopg_driver(workdir: Path) -> None:
    url = POSTGRES_URL
    env_url = url or "postgresql+psycopg://postgres@127.0.0.1:5432/unused"
    for scheme in ("postgresql", "postgres"):
        plain = scheme + "://" + env_url.partition("://")[2]
        result = runner.invoke(app, ["check-config"], env={"CONSENT_SYNC_DATABASE__URL": plain})
        assert result.exit_code == 0, result.output
        assert '"url": "postgresql+psycopg://' in result.stdout
        if url is not None:
            env = {"CONSENT_SYNC_DATABASE__URL": plain, "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "k"}
            assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
            assert runner.invoke(app, ["status"], env=env).exit_code == 0


@pytest.mark.parametrize(
    ("variable", "value", "position"),
    [
        ("CONSENT_SYNC_AUDIENCES", '[{"name": "main", "list_id": }]', "line 1 column 30"),
        ("CONSENT_SYNC_MAILCHIMP", "{max_connections: 4}", "line 1 column 2"),
        ("CONSENT_SYNC_POLICY__PURPOSES", "newsletter,offers", "line 1 column 1"),
    ],
)
@pytest.mark.parametrize("command", ["status", "check-config"])
def test_malformed_json_in_the_environment_names_the_variable(
    workdir: Path, variable: str, value: str, position: str, command: str
) -> None:
    message = _one_line_error({variable: value}, command, code=3)
    assert message.startswith(f"{variable}: not valid JSON (")
    assert f"at {position}); lists and tables in the environment are JSON" in message
    assert value not in message
    assert list(workdir.iterdir()) == []


def _xlsx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return path


def _ods(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office/>")
    return path


def _xls(path: Path) -> Path:
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    return path


@pytest.mark.parametrize(
    ("make", "name", "kind"),
    [
        (_xlsx, "contacts.xlsx", "an Excel workbook"),
        (_xlsx, "contacts.csv", "an Excel workbook"),  # renamed, told by its ZIP content
        (_xls, "contacts.xls", "an Excel workbook"),
        (_xls, "contacts.txt", "an Excel workbook"),  # renamed, told by its OLE magic bytes
        (_ods, "contacts.ods", "an OpenDocument spreadsheet"),
        (lambda p: p.write_bytes(b"whatever") and p, "contacts.numbers", "a Numbers spreadsheet"),
    ],
)
def test_a_workbook_given_to_import_says_how_to_save_it_as_csv(
    env: dict[str, str], make: object, name: str, kind: str, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    path = tmp_path / name
    assert callable(make)
    make(path)
    for apply in ((), ("--apply",)):
        message = _one_line_error(env, "import", str(path), "--source", "shop", *apply, code=2)
        assert message.startswith(f"{path}: {kind}, not CSV: save it as CSV UTF-8 (")
        assert message.endswith(") and import that")
    if kind == "an Excel workbook":
        assert "(File → Save As → CSV UTF-8)" in message
    assert runner.invoke(app, ["status", "--json"], env=env).stdout.count('"pending_contacts": 0') == 1


def test_status_on_an_uninitialised_store_writes_nothing(workdir: Path) -> None:
    for command in (("status",), ("status", "--json"), ("explain", "kari@example.no"), ("plan",)):
        message = _one_line_error({}, *command, code=3)
        assert message == "database is not initialised: run `consent-sync db upgrade`"
        assert list(workdir.iterdir()) == []  # no consent-sync.db, no consent-sync.key


def test_the_console_script_prints_no_traceback(workdir: Path) -> None:
    env = {**os.environ, "CONSENT_SYNC_DATABASE__URL": "postgres+asyncpg://x@y/z"}
    done = subprocess.run(
        [str(CONSENT_SYNC), "status"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3
    assert done.stderr.splitlines() == [f"error: database.url: unknown scheme 'postgres+asyncpg'; {ACCEPTED}"]
    assert list(workdir.iterdir()) == []
