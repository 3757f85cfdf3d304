"""Fixtures for the sandbox suite: a running sandbox, the official client pointed at it, an audience,
and a local webhook receiver whose answers a test can script."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import mailchimp_marketing
import pytest

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

AUDIENCE_BODY: dict[str, Any] = {
    "name": "Sandbox test audience",
    "contact": {
        "company": "Konsert AS",
        "address1": "Storgata 1",
        "city": "Oslo",
        "state": "Oslo",
        "zip": "0155",
        "country": "NO",
    },
    "permission_reminder": "You bought a ticket from us.",
    "campaign_defaults": {
        "from_name": "Konsert",
        "from_email": "news@konsert.no",
        "subject": "News",
        "language": "no",
    },
    "email_type_option": False,
}


def official_client(sandbox: SandboxHandle) -> Any:
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": sandbox.api_key, "timeout": 30})
    client.api_client.host = sandbox.base_url
    return client


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(log_bodies=True, seed=1)) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Any:
    return official_client(sandbox)


@pytest.fixture
def list_id(client: Any) -> str:
    return str(client.lists.create_list(AUDIENCE_BODY)["id"])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook target on 127.0.0.1: records POSTs and answers them with scripted statuses."""

    url: str
    posts: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    get_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


def _handler(receiver_ref: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(receiver_ref[0].get_status)

        def do_HEAD(self) -> None:  # Transactional checks a new webhook URL with HEAD
            self._answer(receiver_ref[0].get_status)

        def do_POST(self) -> None:
            receiver = receiver_ref[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.next_status()
            with receiver.lock:
                receiver.posts.append(Received(self.path, dict(self.headers.items()), body))
            self._answer(status)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    ref: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    ref.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/mailchimp/s3cret"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ref[0]
    server.shutdown()
    server.server_close()
