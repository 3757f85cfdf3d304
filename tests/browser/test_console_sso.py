"""Single sign-on to the console in headless Chromium: the identity provider on another site (``localhost``
while the console is ``127.0.0.1``), so the browser's own cookie rules apply: the state cookie comes back
with the provider's redirect (``SameSite=Lax``) and the strict session cookie works once the signed-in
page has moved on to the console. One app and one provider for the module."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page

from connector.api.app import create_app
from connector.console.users import add_user
from connector.services.context import AppContext, system_clock
from connector.settings import OidcSettings, load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from tests.api.conftest import api_settings, with_sections
from tests.api.serving import served_in_thread
from tests.browser.support import accessibility_violations, screenshot
from tests.console.test_console_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider

PERSON = "ola.sso@firma.no"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("console-sso")
    url = f"sqlite:///{folder / 'store.db'}"
    upgrade(url)
    settings = load_settings(
        None, database={"url": url}, security={"suppression_key_file": str(folder / "test.key")}
    )
    engine = make_engine(url)
    ctx = AppContext(api_settings(settings), engine, b"test-suppression-key", system_clock)
    provider = FakeProvider(claims={"email": PERSON, "groups": ["consent-marketing"]})
    with served_in_thread(provider.app()) as idp_root:
        provider.root = idp_root.replace("127.0.0.1", "localhost")  # another site than the console's
        oidc = OidcSettings.model_validate(
            {
                "issuer": provider.root,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "role_claim": "groups",
                "role_map": {"consent-marketing": "marketer"},
            }
        )
        ctx = replace(ctx, settings=with_sections(ctx.settings, console={"oidc": oidc}))
        add_user(ctx, PERSON, "viewer", "correct horse battery")
        with served_in_thread(create_app(ctx)) as root:
            yield root
    engine.dispose()


def test_a_person_signs_in_through_the_identity_provider_and_lands_in_the_console(
    page: Page, served: str
) -> None:
    page.set_default_timeout(15_000)
    page.goto(f"{served}/console/login?lang=en")
    found = accessibility_violations(page)
    assert found == [], [str(v) for v in found]
    screenshot(page, "console-login-sso")
    page.click("text=Sign in with your company account")
    page.wait_for_url(f"{served}/console")
    assert f"{PERSON} (marketer)" in page.locator("header .who").inner_text()
    page.goto(f"{served}/console/runs")
    assert page.locator("form[action='/console/runs/plan']").count() == 1  # a marketer may resync
