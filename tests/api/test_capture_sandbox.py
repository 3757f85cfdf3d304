"""Sign-ups from a plain HTML form against the Mailchimp sandbox: one confirmation e-mail per sign-up,
and no one can make Mailchimp mail an address more often than the per-address limit allows."""

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from connector.api.app import create_app
from connector.core.model import ConsentAction
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext, system_clock
from connector.sync.connect import open_gateway
from connector.sync.run import sync_audience
from tests.api.conftest import with_sections
from tests.api.serving import served_in_thread
from tests.sync.support import newsletter

FORM = {"purposes": "newsletter", "notice_version": "web-2026-11", "checkbox": "on"}


@pytest.fixture
def world(ctx: AppContext) -> Iterator[tuple[AppContext, SandboxHandle]]:
    with running_sandbox() as sandbox:
        settings = with_sections(
            ctx.settings, mailchimp={"base_url": sandbox.base_url}, consent_capture={"sign_ups_per_ip": 0}
        )
        real = replace(ctx, settings=settings, clock=system_clock)
        newsletter(real, "existing@firma.no", ConsentAction.GIVEN)
        with open_gateway(settings.mailchimp) as gateway:
            sync_audience(real, gateway, "main")  # creates the audience's list in the sandbox
        yield real, sandbox


def _confirmations(sandbox: SandboxHandle) -> int:
    answer = requests.get(f"{sandbox.root_url}/_sandbox/confirmations", timeout=5).json()
    return int(answer["total_items"])


def _wait_for(check: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_form_sign_up_gets_one_confirmation_and_repeats_stop_at_the_limit(
    world: tuple[AppContext, SandboxHandle],
) -> None:
    ctx, sandbox = world
    with served_in_thread(create_app(ctx)) as url:
        first = requests.post(f"{url}/consents", data={**FORM, "email": "web.person@firma.no"}, timeout=10)
        assert first.status_code == 201
        assert "Thank you" in first.text
        _wait_for(lambda: _confirmations(sandbox) == 1)
        for _ in range(2):
            again = requests.post(
                f"{url}/consents", data={**FORM, "email": "web.person@firma.no"}, timeout=10
            )
            assert again.status_code == 201
        refused = requests.post(f"{url}/consents", data={**FORM, "email": "web.person@firma.no"}, timeout=10)
        assert refused.status_code == 429
    assert _confirmations(sandbox) == 1  # Mailchimp never mails a pending member twice
