"""Fixtures of the page tests: one headless Chromium per session, a fresh context (cookies) per test."""

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import DESKTOP, chromium_executable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture(scope="session")
def browser() -> Iterator["Browser"]:
    executable = chromium_executable()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "Chromium must be installed in CI (apt-get install chromium): page tests may not skip"
            )
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_context(browser: "Browser") -> Iterator["BrowserContext"]:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=True, locale="en-GB")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: "BrowserContext") -> "Page":
    return browser_context.new_page()
