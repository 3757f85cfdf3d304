"""The privacy page's settings in tests: link keys, confirmation key, Transactional pointed at a sandbox."""

from dataclasses import replace

from pydantic import SecretStr

from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from tests.api.conftest import with_sections

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
