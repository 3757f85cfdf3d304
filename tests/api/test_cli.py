"""The HTTP service's commands: ``admin token create`` prints a usable entry; ``serve`` and
``webhooks register`` are part of the one CLI."""

from typer.testing import CliRunner

from connector.cli import app
from connector.core.signatures import match_admin_token, parse_admin_tokens


def test_token_create_prints_a_token_and_its_hashed_entry() -> None:
    result = CliRunner().invoke(app, ["admin", "token", "create", "crm", "--scope", "write"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    entry = lines[1].rsplit(" ", 1)[1]
    assert token not in entry
    found = match_admin_token(token, parse_admin_tokens(entry))
    assert found is not None
    assert (found.name, found.scope) == ("crm", "write")


def test_token_scope_is_checked() -> None:
    assert CliRunner().invoke(app, ["admin", "token", "create", "crm", "--scope", "admin"]).exit_code != 0


def test_serve_and_webhooks_register_are_registered() -> None:
    assert "--workers" in CliRunner().invoke(app, ["serve", "--help"]).output
    assert "--audience" in CliRunner().invoke(app, ["webhooks", "register", "--help"]).output
