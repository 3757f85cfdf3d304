"""A sandbox that accepts one API key, a list in it, and a local receiver Mailchimp's URL check can reach."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import ListContact
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.settings import MailchimpSettings

GOOD_KEY = "0123456789abcdef-us1"
WEBHOOK_SECRET = "hook-secret-d0c7"


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(seed=1, api_keys=(GOOD_KEY,))) as handle:
        yield handle


@pytest.fixture
def gateway(sandbox: SandboxHandle) -> Iterator[MailchimpGateway]:
    settings = MailchimpSettings(api_key=SecretStr(GOOD_KEY), base_url=sandbox.base_url, max_attempts=1)
    with MailchimpGateway(settings) as found:
        yield found


@pytest.fixture
def list_id(gateway: MailchimpGateway) -> str:
    contact = ListContact("Reiser AS", "Storgata 1", "Oslo", "0155", "NO")
    made = gateway.create_list(
        "Nyhetsbrev",
        contact=contact,
        from_name="Reiser",
        from_email="news@example.no",
        permission_reminder="x",
    )
    return made.id


class _Answers200(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def public_base_url() -> Iterator[str]:
    """Where ``serve`` would be reachable: a server answering Mailchimp's GET check of the webhook URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def doctor_env(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str, key: str = GOOD_KEY
) -> dict[str, str]:
    """``env`` pointed at the sandbox, with one audience on ``list_id`` and the webhook secret."""
    audiences = [{"name": "main", "list_id": list_id, "purposes": ["newsletter", "offers"]}]
    return {
        **env,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_MAILCHIMP__API_KEY": key,
        "CONSENT_SYNC_MAILCHIMP__BACKOFF_INITIAL_SECONDS": "0",
        "CONSENT_SYNC_AUDIENCES": json.dumps(audiences),
        "CONSENT_SYNC_WEBHOOKS__SECRET": WEBHOOK_SECRET,
        "CONSENT_SYNC_CONSENT_CAPTURE__PUBLIC_BASE_URL": public_base_url,
    }
