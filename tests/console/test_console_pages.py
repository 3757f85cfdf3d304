"""Console pages through the same services as the CLI: users from the command line, the runs page's
dry-run then apply (destructive only for an admin, with a reason), the overview's chart."""

from fastapi.testclient import TestClient
from sqlmodel import select

from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminAuditRow
from tests.cli_env import runner
from tests.sync.support import subscribe

from .conftest import csrf_of, sign_in, until_finished


def test_console_users_from_the_command_line(env: dict[str, str]) -> None:
    from connector.cli import app

    added = runner.invoke(
        app,
        ["console", "user", "add", "ada", "--role", "admin", "--password-stdin"],
        input="s3cret-enough-pw\n",
        env=env,
    )
    assert added.exit_code == 0, added.stderr
    assert "role admin" in added.stdout
    short = runner.invoke(app, ["console", "user", "add", "bo", "--password-stdin"], input="short\n", env=env)
    assert short.exit_code == 2
    assert "password" in short.stderr
    bad_role = runner.invoke(
        app,
        ["console", "user", "add", "cy", "--role", "boss", "--password-stdin"],
        input="s3cret-enough-pw\n",
        env=env,
    )
    assert bad_role.exit_code == 2
    assert "unknown role" in bad_role.stderr
    assert runner.invoke(app, ["console", "user", "disable", "ada"], env=env).exit_code == 0
    listed = runner.invoke(app, ["console", "user", "list"], env=env)
    assert "ada\tadmin\tdisabled" in listed.stdout


def test_resync_an_audience_dry_run_then_apply(app_client: TestClient, console_ctx: AppContext) -> None:
    subscribe(console_ctx, "kari@example.no")
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/runs").text)
    destructive = app_client.post(
        "/console/runs/plan",
        data={"audience": "main", "allow_destructive": "yes", "reason": "x", "csrf": token},
    )
    assert destructive.status_code == 422
    assert "only an admin" in destructive.text
    planned = app_client.post("/console/runs/plan", data={"audience": "main", "csrf": token})
    assert planned.status_code == 200
    assert "kari@example.no" in planned.text
    queued = app_client.post("/console/runs/apply", data={"audience": "main", "csrf": token})
    assert queued.status_code == 200
    assert "/console/runs/jobs/" in str(queued.url)  # a progress page: the resync runs in the background
    applied = until_finished(app_client, queued)
    assert "Report: Done" in applied.text or "Rapport: Ferdig" in applied.text
    assert '<dd class="done-count">2</dd>' in applied.text  # the upsert and its tags, confirmed
    overview = app_client.get("/console")
    assert "<svg" in overview.text

    assert sign_in(app_client, "admin") == 303
    token = csrf_of(app_client.get("/console/runs").text)
    missing_reason = app_client.post(
        "/console/runs/plan", data={"audience": "main", "allow_destructive": "yes", "csrf": token}
    )
    assert missing_reason.status_code == 422
    allowed = app_client.post(
        "/console/runs/plan",
        data={"audience": "main", "allow_destructive": "yes", "reason": "shop closed", "csrf": token},
    )
    assert allowed.status_code == 200
    with unit_of_work(console_ctx.engine) as session:
        routes = session.exec(select(AdminAuditRow.route).where(AdminAuditRow.actor == "console:admin")).all()
    assert any("reason=shop closed" in r for r in routes)


def test_a_marketer_plans_a_notice_and_a_viewer_may_not(console_ctx: AppContext) -> None:
    from dataclasses import replace

    from connector.api.app import create_app
    from tests.api.conftest import with_sections
    from tests.sync.support import account

    account(console_ctx, "ola@example.no")
    settings = with_sections(console_ctx.settings, transactional={"from_email": "billett@example.no"})
    with TestClient(
        create_app(replace(console_ctx, settings=settings)), base_url="http://127.0.0.1"
    ) as client:
        _notice(client)


def _notice(app_client: TestClient) -> None:
    assert sign_in(app_client, "viewer") == 303
    assert app_client.get("/console/notices").status_code == 403
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/notices").text)
    data = {
        "notice_id": "pw-reset-1",
        "kind": "account",
        "emails": "ola@example.no\n",
        "subject": "Hei",
        "text": "Ny kode",
        "csrf": token,
    }
    planned = app_client.post("/console/notices/plan", data=data)
    assert planned.status_code == 200, planned.text.split('alert">')[-1][:300]
    assert "ola@example.no" in planned.text
    assert "pw-reset-1" in planned.text


def test_an_import_read_but_not_applied_needs_a_person(app_client: TestClient) -> None:
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/imports").text)
    body = b"E-post;Fornavn\nventer@example.no;Vera\nikke-en-adresse;Nils\n"
    read = app_client.post(
        "/console/imports/upload", data={"csrf": token}, files={"file": ("venter.csv", body, "text/csv")}
    )
    read = until_finished(app_client, read)
    assert read.status_code == 200
    assert "venter.csv:3:E-post" in read.text
    assert "imports waiting for apply" in app_client.get("/console").text
