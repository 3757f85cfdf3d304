"""The console's background jobs over HTTP: a resync's progress page before and while it runs (read from
the worker's progress), its state for the page's script, and the CSP that allows only our script there; an
import's progress in rows read, its end, and a job whose process died."""

import json
import secrets
from dataclasses import replace

from fastapi.testclient import TestClient

from connector.console import import_jobs
from connector.console.import_pages import UPLOADS, upload_folder
from connector.console.run_progress import run_progress
from connector.services.context import AppContext
from connector.sync.progress import SyncProgress
from connector.sync.run_queue import RunRequest, queue_run

from .conftest import csrf_of, sign_in, until_finished


def test_a_queued_resync_shows_its_progress_page_with_a_refresh_link_and_our_script_only(
    app_client: TestClient, console_ctx: AppContext
) -> None:
    run_id = queue_run(console_ctx, RunRequest("main", None, False, False, "console:marketer"))  # not run
    assert sign_in(app_client, "viewer") == 303
    page = app_client.get(f"/console/runs/jobs/{run_id}?lang=en")
    assert page.status_code == 200
    assert "Queued" in page.text
    assert f'class="refresh" href="/console/runs/jobs/{run_id}"' in page.text  # works without script
    assert '<script src="/console/static/progress.js" defer></script>' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    state = app_client.get(f"/console/runs/jobs/{run_id}/state").json()
    assert (state["status"], state["finished"], state["status_text"]) == ("queued", False, "Queued")
    script = app_client.get("/console/static/progress.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "data-state-url" in script.text
    assert "script-src" not in app_client.get("/console").headers["content-security-policy"]
    assert app_client.get("/console/runs/jobs/no-such-run").status_code == 404


def test_a_running_resync_shows_planned_sent_and_confirmed(console_ctx: AppContext) -> None:
    from sqlalchemy import update

    from connector.store.engine import unit_of_work
    from connector.store.http_tables import AdminRunRow

    run_id = queue_run(console_ctx, RunRequest("main", None, False, False, "console:marketer"))
    assert run_progress(console_ctx, run_id, SyncProgress()).facts == []  # queued: nothing to say yet
    with unit_of_work(console_ctx.engine) as session:  # the worker claimed it
        session.execute(update(AdminRunRow).where(AdminRunRow.id == run_id).values(status="running"))
    watch = SyncProgress(planned_contacts=1200, planned_operations=1500, estimated_calls=4)
    watch.sent_calls, watch.confirmed_operations, watch.planning_done = 3, 1000, True
    job = run_progress(console_ctx, run_id, watch)
    assert job is not None
    assert not job.finished
    assert job.facts == [
        ("planned", "1,200 contacts, 1,500 operations"),
        ("sent", "3 of ~4 calls"),
        ("confirmed", "1,000 operations"),
    ]
    assert (job.value, job.maximum) == (3, 4)


def test_an_import_job_counts_rows_read_and_ends_with_its_report(
    app_client: TestClient, console_ctx: AppContext
) -> None:
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/imports").text)
    rows = 3000
    unique = secrets.token_hex(4)  # an upload of its own (the upload folder is shared by parallel tests)
    body = "E-post;Fornavn\n" + "".join(f"stor{i}.{unique}@example.no;Navn\n" for i in range(rows))
    answer = app_client.post(
        "/console/imports/upload",
        data={"csrf": token},
        files={"file": ("stor.csv", body.encode(), "text/csv")},
    )
    sha = str(answer.url).rsplit("/", 1)[1]
    done = until_finished(app_client, answer)
    assert f"{rows} rows" in done.text
    state = app_client.get(f"/console/imports/{sha}/state").json()
    assert (state["status"], state["finished"], state["value"]) == ("done", True, rows)
    applied = until_finished(
        app_client, app_client.post("/console/imports/apply", data={"csrf": token, "sha": sha})
    )
    assert "Applied" in applied.text or "applied" in applied.text.lower()
    assert (
        json.loads((upload_folder(console_ctx) / sha / import_jobs.JOB_FILE).read_text())["step"] == "apply"
    )


def test_an_import_job_whose_process_died_says_so(app_client: TestClient, console_ctx: AppContext) -> None:
    sha = secrets.token_hex(32)
    folder = upload_folder(console_ctx) / sha
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gone.csv").write_text("E-post\nx@example.no\n", encoding="utf-8")
    job = {"step": "apply", "state": "running", "user": "marketer", "rows": 5, "estimated_rows": 9}
    (folder / import_jobs.JOB_FILE).write_text(json.dumps(job), encoding="utf-8")  # and no lock held
    assert sign_in(app_client, "marketer") == 303
    page = app_client.get(f"/console/imports/{sha}?lang=en")
    assert page.status_code == 409
    assert "interrupted" in page.text
    assert sign_in(app_client, "viewer") == 303
    assert app_client.get(f"/console/imports/{sha}").status_code == 403


def test_a_resync_run_by_another_process_shows_its_persisted_operations(console_ctx: AppContext) -> None:
    from sqlalchemy import update

    from connector.store.engine import unit_of_work
    from connector.store.http_tables import AdminRunRow
    from connector.store.sync_tables import PlanOperationRow, SyncRunRow

    run_id = queue_run(console_ctx, RunRequest("main", None, False, False, "console:marketer"))
    now = console_ctx.now()
    with unit_of_work(console_ctx.engine) as session:
        session.execute(update(AdminRunRow).where(AdminRunRow.id == run_id).values(status="running"))
        session.add(SyncRunRow(id="s-1", audience="main", kind="sync", status="applying", started_at=now))
        session.flush()
        for seq, state in enumerate(["done", "done", "rejected", "pending", "pending"]):
            session.add(
                PlanOperationRow(run_id="s-1", seq=seq, kind="UpsertMember", subscriber_hash="h", state=state)
            )
    job = run_progress(console_ctx, run_id, None)  # no progress in this process: the store says how far
    assert job is not None
    assert job.status == "running"
    assert job.facts == [("planned", "5 operations"), ("confirmed", "2 done, 1 rejected")]
    assert (job.value, job.maximum) == (3, 5)


def test_an_import_that_fails_in_its_job_says_why_and_writes_nothing(
    app_client: TestClient, console_ctx: AppContext
) -> None:
    from sqlalchemy import func, select

    from connector.store.engine import unit_of_work
    from connector.store.tables import ContactRow

    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/imports").text)
    body = f"Navn;By\nOla;Oslo-{secrets.token_hex(4)}\n".encode()  # nothing that names a person
    answer = app_client.post(
        "/console/imports/upload",
        data={"csrf": token},
        files={"file": ("uten-adresse.csv", body, "text/csv")},
    )
    failed = until_finished(app_client, answer)
    assert failed.status_code == 422
    assert "uten-adresse.csv: " in failed.text
    assert "nothing was imported" in failed.text
    assert str(UPLOADS) not in failed.text  # the upload folder is not shown
    with unit_of_work(console_ctx.engine) as session:
        assert session.execute(select(func.count()).select_from(ContactRow)).scalar_one() == 0


def test_two_stores_never_share_an_upload(console_ctx: AppContext) -> None:
    """The same file uploaded to two deployments on one host (say staging and production): each has its
    own job and reports, so one's "applied" is never shown by the other."""
    other = replace(
        console_ctx,
        settings=console_ctx.settings.model_copy(
            update={
                "database": console_ctx.settings.database.model_copy(update={"url": "sqlite:///other.db"})
            }
        ),
    )
    assert upload_folder(console_ctx) != upload_folder(other)
    assert upload_folder(console_ctx).parent == upload_folder(other).parent == UPLOADS
