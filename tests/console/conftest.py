"""The console on the test database and a sandbox: users of every role, and a signed-in client per role."""

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from connector.api.app import create_app
from connector.console.users import add_user
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from tests.sync.support import with_sandbox

PASSWORD = "correct horse battery"
ROLES = ("viewer", "marketer", "privacy", "admin")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def console_ctx(ctx: AppContext, sandbox: SandboxHandle) -> AppContext:
    local = with_sandbox(ctx, sandbox)
    for role in ROLES:
        add_user(local, role, role, PASSWORD)
    return replace(local)


@pytest.fixture
def app_client(console_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(console_ctx), base_url="http://127.0.0.1") as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> int:
    token = csrf_of(client.get("/console/login").text)
    answer = client.post(
        "/console/login", data={"name": name, "password": password, "csrf": token}, follow_redirects=False
    )
    return answer.status_code


def until_finished(client: TestClient, answer: Response, seconds: float = 30.0) -> Response:
    """The progress page ``answer`` led to, reloaded by its Refresh link (as a browser without script
    would) until the job has ended: then the page holds the job's report."""
    import time

    deadline = time.monotonic() + seconds
    while 'class="refresh"' in answer.text:
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.05)
        link = answer.text.split('class="refresh" href="', 1)[1].split('"', 1)[0]
        answer = client.get(link)
    return answer
