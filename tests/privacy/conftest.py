"""Fixtures of the privacy-page tests: the sync sandbox fixtures, settings with the page's keys."""

from collections.abc import Iterator

import pytest

from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.sync.connect import open_gateway
from tests.privacy.support import with_privacy
from tests.sync.support import with_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def synced(ctx: AppContext, sandbox: SandboxHandle) -> Iterator[tuple[AppContext, MailchimpGateway]]:
    local = with_privacy(with_sandbox(ctx, sandbox), sandbox)
    with open_gateway(local.settings.mailchimp) as gateway:
        yield local, gateway
