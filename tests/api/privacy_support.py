"""The privacy page's settings in tests: link keys, confirmation key, Transactional pointed at a sandbox."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.sync.connect import open_gateway
from tests.api.conftest import with_sections
from tests.sync.support import with_sandbox

PREFERENCES_KEY = "test-preferences-key-0123456789abcdef"
OLD_KEY = "test-old-preferences-key-0123456789"
CONFIRMATION_KEY = "test-confirmation-key-0123456789abcdef"


def with_privacy(ctx: AppContext, sandbox: SandboxHandle | None = None, **preferences: object) -> AppContext:
    """``ctx`` with the privacy page's keys (and Transactional in ``sandbox`` for its e-mails)."""
    sections: dict[str, dict[str, object]] = {
        "security": {
            "preferences_key": SecretStr(PREFERENCES_KEY),
            "preferences_previous_keys": SecretStr(OLD_KEY),
            "confirmation_key": SecretStr(CONFIRMATION_KEY),
        },
        "preferences": {"public_url": "https://privacy.example.no", **preferences},
    }
    if sandbox is not None:
        sections["transactional"] = {
            "api_key": SecretStr(sandbox.transactional_key),
            "base_url": sandbox.transactional_base_url,
            "from_email": "personvern@example.no",
        }
    return replace(ctx, settings=with_sections(ctx.settings, **sections))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def synced(ctx: AppContext, sandbox: SandboxHandle) -> Iterator[tuple[AppContext, MailchimpGateway]]:
    """``ctx`` with the privacy page's settings, pointed at the module's sandbox, and its gateway."""
    local = with_privacy(with_sandbox(ctx, sandbox), sandbox)
    with open_gateway(local.settings.mailchimp) as gateway:
        yield local, gateway
