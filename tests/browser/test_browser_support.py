"""The page-test tooling itself: Debian's Chromium starts, renders a page of ours, and axe-core runs."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
from playwright.sync_api import Page
from pydantic import SecretStr

from connector.api.app import create_app
from connector.services.context import AppContext
from tests.api.conftest import api_settings, with_sections
from tests.api.serving import served_in_thread
from tests.browser.support import PHONE, accessibility_violations, screenshot


@pytest.fixture
def url(ctx: AppContext) -> Iterator[str]:
    settings = with_sections(
        api_settings(ctx.settings),
        consent_capture={"confirmation": "link"},
        security={"confirmation_key": SecretStr("browser-test-confirmation-key-0123456789")},
    )
    app = create_app(replace(ctx, settings=settings))
    with served_in_thread(app) as root:
        yield root


def test_a_page_of_ours_renders_in_chromium_and_passes_axe(page: Page, url: str) -> None:
    page.set_viewport_size(PHONE)
    response = page.goto(f"{url}/consents/confirm/not-a-real-link")
    assert response is not None
    assert response.status == 404
    assert page.title() == "Link not valid", page.content()[:300]
    assert accessibility_violations(page) == []
    assert screenshot(page, "invalid-link-375").stat().st_size > 0
