"""The console in headless Chromium against the sandbox: sign in, read why a person is out of the
newsletter, resync them and see Mailchimp change, import a CSV with bad rows (line numbers), see a flagged
campaign; what each role is not offered; axe-core finds nothing serious or critical; screenshots."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from connector.api.app import create_app
from connector.console.users import add_user
from connector.core.remote import subscriber_hash
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow
from connector.sync.connect import open_gateway
from connector.sync.run import sync_audience
from tests.api.serving import served_in_thread
from tests.browser.support import PHONE, accessibility_violations, screenshot
from tests.sync.support import account, subscribe, with_sandbox

PASSWORD = "correct horse battery"
OLA, KARI = "ola@example.no", "kari@example.no"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the page tests check the pages, the store tests check both back ends."""
    from connector.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def world(ctx: AppContext, sandbox: SandboxHandle) -> Iterator[tuple[AppContext, str, str]]:
    """Kari reads the newsletter, Ola has an account only; synced; a user of every role."""
    sandbox.runtime.reset()
    local = replace(with_sandbox(ctx, sandbox), clock=ctx.clock)
    subscribe(local, KARI, at=local.now() - timedelta(days=2))
    account(local, OLA)
    with open_gateway(local.settings.mailchimp) as gateway:
        sync_audience(local, gateway, "main")
    for role in ("viewer", "marketer", "privacy", "admin"):
        add_user(local, role, role, PASSWORD)
    with unit_of_work(local.engine) as session:
        state = session.get(AudienceStateRow, "main")
        assert state is not None
        list_id = str(state.list_id)
    with served_in_thread(create_app(local)) as root:
        yield local, root, list_id


def sign_in(page: Page, root: str, name: str) -> None:
    page.set_default_timeout(10_000)
    page.goto(f"{root}/console/login?lang=en")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{root}/console")


def no_serious_violations(page: Page) -> None:
    found = accessibility_violations(page)
    assert found == [], [str(v) for v in found]


def test_a_marketer_reads_why_ola_is_out_resyncs_him_and_sees_a_flagged_campaign(
    page: Page, world: tuple[AppContext, str, str], sandbox: SandboxHandle
) -> None:
    ctx, root, list_id = world
    requests.post(
        f"{sandbox.root_url}/_sandbox/campaigns",
        json={"list_id": list_id, "status": "schedule", "title": "Black Friday to everyone"},
        timeout=10,
    )
    sign_in(page, root, "marketer")
    page.click("text=Check campaigns now")
    page.wait_for_url(f"{root}/console")
    flagged = page.locator(".findings li.flagged")
    assert "Black Friday to everyone" in flagged.first.inner_text()
    assert "whole audience" in flagged.first.inner_text()
    no_serious_violations(page)
    screenshot(page, "console-overview")

    page.click("nav >> text=Contact")
    page.fill("#q", OLA)
    page.click("form[role=search] button")
    why = page.locator("ul.why").inner_text()
    assert "Newsletter by e-mail: denied — no consent" in why
    assert page.locator(".mirror-status").count() == 1
    assert "cs:newsletter" not in page.locator(".mirror-status").first.locator("..").inner_text()
    no_serious_violations(page)
    screenshot(page, "console-contact")
    assert page.locator("form[action='/console/contact/erase']").count() == 0  # a marketer cannot erase

    subscribe(ctx, OLA)  # Ola signs up for the newsletter at the shop
    page.click("text=Resync this contact")
    assert "Done" in page.locator(".done").inner_text()
    member = sandbox.runtime.state.member(list_id, subscriber_hash(OLA))
    assert member is not None
    assert "cs:newsletter" in member.tags


def test_a_marketer_imports_a_csv_with_bad_rows_and_applies_it(
    page: Page, world: tuple[AppContext, str, str], tmp_path: Path
) -> None:
    _, root, _ = world
    upload = tmp_path / "shop-customers.csv"
    upload.write_text(
        "E-post;Fornavn;Kundenummer\nper@example.no;Per;1001\nikke-en-adresse;Nils;1002\n", encoding="utf-8"
    )
    sign_in(page, root, "marketer")
    page.goto(f"{root}/console/imports")
    page.set_input_files("#file", str(upload))
    page.click("text=Upload CSV")
    report = page.locator(".report").inner_text()
    assert ";" in report
    assert "shop-customers.csv:3:E-post" in page.locator("ul.rejected").inner_text()
    no_serious_violations(page)
    screenshot(page, "console-import-dry-run")
    page.click("button:text-is('Apply')")
    assert page.locator(".report h2").inner_text().startswith("Applied")
    assert "shop-customers.csv:3" in page.locator("ul.rejected").inner_text()
    page.goto(f"{root}/console/contact?q=per@example.no")
    assert "per@example.no" in page.locator("h2").first.inner_text()


def test_a_viewer_is_offered_no_resync_and_a_phone_sees_the_overview(
    page: Page, world: tuple[AppContext, str, str]
) -> None:
    _, root, _ = world
    page.set_viewport_size(PHONE)
    sign_in(page, root, "viewer")
    no_serious_violations(page)
    screenshot(page, "console-overview-phone")
    page.goto(f"{root}/console/contact?q={KARI}")
    assert page.locator("form[action='/console/contact/resync']").count() == 0
    page.goto(f"{root}/console/runs")
    assert page.locator("form[action='/console/runs/plan']").count() == 0
