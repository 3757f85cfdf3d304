"""The privacy page in a real browser (Debian's Chromium), served over HTTP against the test store.

Kari opens her personal link, reads why she gets what she gets, withdraws the newsletter with the keyboard
only (the next sync removes it in the sandbox's Mailchimp), ticks a new consent and confirms it through
the double opt-in e-mail the sandbox's Transactional captured, downloads her data and erases it; an
expired and a tampered link get the fresh-link page. axe-core finds no serious or critical violation,
and the page is photographed at 375 px and 1280 px (``artifacts/screenshots/``).
"""

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page
from sqlalchemy import select

from connector.api.app import create_app
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext, system_clock
from connector.services.explain import explain_contact
from connector.services.preference_links import issue_token
from connector.settings import load_settings
from connector.store.engine import make_engine, unit_of_work
from connector.store.migrate import upgrade
from connector.store.tables import ContactRow
from connector.sync.connect import open_gateway
from connector.sync.run import sync_audience
from tests.api.conftest import api_settings, with_sections
from tests.api.privacy_support import with_privacy
from tests.api.serving import served_in_thread
from tests.browser.support import DESKTOP, PHONE, accessibility_violations, screenshot
from tests.sync.support import account, list_id, subscribe, trip

EMAIL = "kari.nordmann@example.no"
PUBLIC = "https://privacy.example.no"


@dataclass
class World:
    ctx: AppContext
    sandbox: SandboxHandle
    gateway: MailchimpGateway
    root: str

    def link(self, days_ago: int = 0) -> str:
        with unit_of_work(self.ctx.engine) as session:
            contact = session.execute(select(ContactRow).where(ContactRow.email == EMAIL)).scalar_one()
        moment = self.ctx.now() - timedelta(days=days_ago)
        return f"{self.root}/me/{issue_token(self.ctx.settings, contact.id, moment)}"

    def tags(self) -> frozenset[str]:
        return self.gateway.member_tags(list_id(self.ctx), subscriber_hash(EMAIL))

    def outbox(self) -> list[dict[str, object]]:
        answer = requests.get(
            f"{self.sandbox.root_url}/sandbox/transactional/outbox", params={"email": EMAIL}, timeout=10
        )
        messages: list[dict[str, object]] = answer.json()["messages"]
        return messages


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AppContext]:
    """A migrated SQLite store: the page tests run on SQLite only (the store code is the same on both)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    settings = load_settings(
        None, database={"url": url}, security={"suppression_key_file": str(tmp_path / "test.key")}
    )
    engine = make_engine(url)
    yield AppContext(settings, engine, b"test-suppression-key", system_clock)
    engine.dispose()


@pytest.fixture
def world(store: AppContext, sandbox: SandboxHandle) -> Iterator[World]:
    settings = with_sections(
        api_settings(store.settings),
        mailchimp={"base_url": sandbox.base_url},
        consent_capture={"public_base_url": PUBLIC},
    )
    local = with_privacy(replace(store, settings=settings), sandbox, public_url=PUBLIC)
    audience = local.settings.audiences[0].model_copy(update={"list_id": None})
    local = replace(local, settings=local.settings.model_copy(update={"audiences": (audience,)}))
    with open_gateway(local.settings.mailchimp) as gateway, served_in_thread(create_app(local)) as root:
        yield World(local, sandbox, gateway, root)


def _open(page: Page, url: str) -> None:
    answer = page.goto(url)
    assert answer is not None


def _no_blocking_violations(page: Page) -> None:
    found = accessibility_violations(page)
    assert found == [], "\n".join(str(v) for v in found)


def test_kari_reads_why_and_withdraws_the_newsletter_by_keyboard_then_sync_removes_it(
    world: World, page: Page
) -> None:
    subscribe(world.ctx, EMAIL)
    trip(world.ctx, EMAIL, departs_in_days=30)
    sync_audience(world.ctx, world.gateway, "main")
    assert "cs:newsletter" in world.tags()
    page.set_viewport_size(PHONE)
    _open(page, world.link())
    assert page.title() == "Your data and your choices"
    receive = page.locator("section[aria-labelledby=receive]")
    for sentence in explain_contact(world.ctx, EMAIL).sentences[:2]:
        assert sentence in receive.inner_text()  # the policy's own words
    _no_blocking_violations(page)
    screenshot(page, "privacy-page-375")
    for _ in range(40):  # keyboard only: Tab to the newsletter's box, Space ticks it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "stop-newsletter-email":
            break
    else:
        pytest.fail("the newsletter's box is not reachable with Tab")
    page.keyboard.press("Space")
    assert page.is_checked("#stop-newsletter-email")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Stop the ticked ones"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "you will no longer receive that" in page.locator("#result").inner_text()
    assert page.locator(".pending").count() == 1  # honest: Mailchimp does not show it yet
    sync_audience(world.ctx, world.gateway, "main")
    assert "cs:newsletter" not in world.tags()
    assert "cs:transactional" in world.tags()
    page.reload()
    assert page.locator(".pending").count() == 0


def test_kari_ticks_offers_and_confirms_through_the_double_opt_in_email(world: World, page: Page) -> None:
    subscribe(world.ctx, EMAIL)
    account(world.ctx, EMAIL)
    page.set_viewport_size(DESKTOP)
    _open(page, world.link() + "?lang=nb")
    assert page.title() == "Dine data og dine valg"
    _no_blocking_violations(page)
    screenshot(page, "privacy-page-1280")
    box = page.get_by_label("Offers (e-post)", exact=True)
    assert not box.is_checked()
    box.check()
    page.get_by_role("button", name="Ja, jeg vil ha de avkryssede").click()
    assert "Vi har sendt en e-post" in page.locator("#result").inner_text()
    assert not _allowed(world, "offers")  # counts once confirmed
    text = _mail(world)
    found = re.search(r"https?://\S+/consents/confirm/\S+", text)
    assert found is not None, text
    _open(page, found.group(0).replace(PUBLIC, world.root))
    page.get_by_role("button").click()
    assert "confirmed" in page.title().lower()
    assert _allowed(world, "offers")
    sync_audience(world.ctx, world.gateway, "main")
    assert "cs:offers" in world.tags()


def test_kari_downloads_her_data_and_erases_it_in_two_steps(world: World, page: Page, tmp_path: Path) -> None:
    subscribe(world.ctx, EMAIL)
    sync_audience(world.ctx, world.gateway, "main")
    link = world.link()
    _open(page, link)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download everything (JSON)").click()
    saved = tmp_path / "my-data.json"
    info.value.save_as(saved)
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["contact"]["email"] == EMAIL
    page.get_by_role("button", name="Delete my data…").click()
    assert page.title() == "Delete your data for good?"
    _no_blocking_violations(page)
    page.get_by_role("button", name="Yes, delete my data").click()
    assert page.title() == "Your data has been deleted"
    _open(page, link)
    assert page.title() == "This link does not work"
    sync_audience(world.ctx, world.gateway, "main")
    assert world.gateway.get_member(list_id(world.ctx), subscriber_hash(EMAIL)) is None


def test_expired_and_tampered_links_get_the_fresh_link_page(world: World, page: Page) -> None:
    subscribe(world.ctx, EMAIL)
    page.set_viewport_size(PHONE)
    for url in (world.link(days_ago=400), world.link()[:-4] + "AAAA"):
        answer = page.goto(url)
        assert answer is not None
        assert answer.status == 404
        assert page.title() == "This link does not work"
        assert EMAIL not in page.content()
    _no_blocking_violations(page)
    screenshot(page, "privacy-invalid-link-375")
    page.get_by_label("Your e-mail address").fill(EMAIL)
    page.get_by_role("button", name="Send me a fresh link").click()
    assert page.title() == "Check your inbox"
    assert "/me/" in _mail(world)


def _allowed(world: World, purpose: str) -> bool:
    marketing = explain_contact(world.ctx, EMAIL).entitlement.marketing
    return any(d.allowed for d in marketing if d.purpose == purpose)


def _mail(world: World) -> str:
    """The text of the latest e-mail Transactional took for Kari (sent after the answer: waited for)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = world.outbox()
        if messages:
            return str(messages[-1]["text"])
        time.sleep(0.05)
    pytest.fail("no e-mail reached the sandbox's Transactional")
