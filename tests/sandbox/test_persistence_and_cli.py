"""``--state FILE`` keeps the sandbox's state across restarts; ``consent-sync sandbox --help`` documents
every knob."""

import dataclasses
from pathlib import Path

import typer
from typer.testing import CliRunner

from connector.cli.sandbox import sandbox as sandbox_command
from connector.core.remote import subscriber_hash
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import running_sandbox

from .conftest import AUDIENCE_BODY, official_client
from .test_official_client import expect_problem, put

ANN = "ann.berg@konsert.no"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    knobs = SandboxKnobs(state_file=tmp_path / "sandbox.sqlite")
    with running_sandbox(knobs) as first:
        client = official_client(first)
        list_id = client.lists.create_list(AUDIENCE_BODY)["id"]
        put(client, list_id, ANN, status_if_new="subscribed")
        client.lists.update_list_member_tags(
            list_id, subscriber_hash(ANN), {"tags": [{"name": "vip", "status": "active"}]}
        )
        put(client, list_id, "gone@konsert.no", status_if_new="subscribed")
        client.lists.delete_list_member_permanent(list_id, subscriber_hash("gone@konsert.no"))
    with running_sandbox(knobs) as second:
        client = official_client(second)
        member = client.lists.get_list_member(list_id, subscriber_hash(ANN))
        assert member["status"] == "subscribed"
        assert [t["name"] for t in member["tags"]] == ["vip"]
        expect_problem(
            400,
            "Forgotten Email Not Subscribed",
            put,
            client,
            list_id,
            "gone@konsert.no",
            status_if_new="pending",
        )


def test_memory_state_does_not_survive() -> None:
    with running_sandbox() as first:
        official_client(first).lists.create_list(AUDIENCE_BODY)
    with running_sandbox() as second:
        assert official_client(second).lists.get_all_lists()["total_items"] == 0


def test_help_documents_every_knob() -> None:
    app = typer.Typer()
    app.command()(sandbox_command)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"})
    assert result.exit_code == 0
    text = result.output
    for knob in dataclasses.fields(SandboxKnobs):
        if knob.name in ("request_log_size", "batch_result_ttl_s"):
            continue
        option = "--state" if knob.name == "state_file" else "--" + knob.name.replace("_", "-")
        assert option in text, option
    for option in ("--host", "--port"):
        assert option in text
