"""Live progress in the console, in headless Chromium: a marketer's resync of an audience runs in the
background while its page redraws itself (``progress.js``) and ends with the report, and an import read
and applied with script turned off, followed by the page's Refresh link. One store, one sandbox (slowed,
so the resync takes a few seconds) and one served app for the module."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from connector.api.app import create_app
from connector.console.users import add_user
from connector.core.remote import subscriber_hash
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext, system_clock
from connector.settings import load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from tests.api.conftest import api_settings
from tests.api.serving import served_in_thread
from tests.browser.support import DESKTOP, accessibility_violations, screenshot
from tests.sync.support import list_id, subscribe, with_sandbox

PASSWORD = "correct horse battery"
MEMBERS = 40


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(latency_ms=250)) as handle:
        yield handle


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxHandle
) -> Iterator[tuple[AppContext, str]]:
    folder = tmp_path_factory.mktemp("console-progress")
    url = f"sqlite:///{folder / 'store.db'}"
    upgrade(url)
    settings = load_settings(
        None, database={"url": url}, security={"suppression_key_file": str(folder / "test.key")}
    )
    engine = make_engine(url)
    ctx = with_sandbox(
        AppContext(api_settings(settings), engine, b"test-suppression-key", system_clock), sandbox
    )
    audience = ctx.settings.audiences[0].model_copy(update={"list_id": None})
    sync = ctx.settings.sync.model_copy(
        update={"batch_size": 5, "batch_jobs_above": 10_000, "stream_chunk": 10}
    )
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"audiences": (audience,), "sync": sync}))
    for number in range(MEMBERS):
        subscribe(ctx, f"leser{number}@example.no")
    add_user(ctx, "marketer", "marketer", PASSWORD)
    with served_in_thread(create_app(ctx)) as root:
        yield ctx, root
    engine.dispose()


def _sign_in(page: Page, root: str) -> None:
    page.set_default_timeout(30_000)
    page.goto(f"{root}/console/login?lang=en")
    page.fill("#name", "marketer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{root}/console")


def test_a_resync_runs_in_the_background_and_its_page_redraws_itself_to_the_report(
    page: Page, served: tuple[AppContext, str], sandbox: SandboxHandle
) -> None:
    ctx, root = served
    _sign_in(page, root)
    page.goto(f"{root}/console/runs")
    page.click("button:text-is('Dry run (changes nothing)')")
    page.click("button:text-is('Apply')")
    page.wait_for_url(f"{root}/console/runs/jobs/*")
    first = page.locator("#job-status").inner_text()
    assert first in {"Queued", "Running"}, first  # the answer came before the run ended
    assert page.locator("a.refresh").count() == 1
    found = accessibility_violations(page)
    assert found == [], [str(v) for v in found]
    screenshot(page, "console-resync-progress")
    page.wait_for_selector("#report-heading")  # the script reloads the page once the run has ended
    assert page.locator("#report-heading").inner_text() == "Report: Done"
    assert page.locator("a.refresh").count() == 0
    facts = page.locator("#job-facts").inner_text()
    assert f"{MEMBERS} contacts" in facts
    assert int(page.locator("dd.done-count").inner_text()) >= MEMBERS
    member = sandbox.runtime.state.member(list_id(ctx), subscriber_hash("leser7@example.no"))
    assert member is not None
    assert "cs:newsletter" in member.tags
    screenshot(page, "console-resync-report")


def test_an_import_is_read_and_applied_without_script_by_the_refresh_link(
    browser: Browser, served: tuple[AppContext, str], tmp_path: Path
) -> None:
    _, root = served
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False, locale="en-GB")
    try:
        page = context.new_page()
        _sign_in(page, root)
        upload = tmp_path / "butikk.csv"
        upload.write_text(
            "E-post;Fornavn\n" + "".join(f"kunde{i}@example.no;Kunde\n" for i in range(2000)) + "feil;X\n",
            encoding="utf-8",
        )
        page.goto(f"{root}/console/imports")
        page.set_input_files("#file", str(upload))
        page.click("text=Upload CSV")
        page.wait_for_url(f"{root}/console/imports/*")
        _refresh_until_done(page)
        assert "butikk.csv:2002:E-post" in page.locator("ul.rejected").inner_text()
        page.click("button:text-is('Apply')")
        page.wait_for_url(f"{root}/console/imports/*")
        _refresh_until_done(page)
        assert page.locator(".report h2").inner_text().startswith("Applied")
    finally:
        context.close()


def _refresh_until_done(page: Page) -> None:
    """Follow the Refresh link, as a person without script would, until the job's report is shown."""
    for _ in range(600):
        if page.locator("a.refresh").count() == 0:
            return
        assert page.locator("#job-status").inner_text() in {"Running", "Queued"}
        page.wait_for_timeout(100)
        page.click("a.refresh")
    pytest.fail("the import did not end")
