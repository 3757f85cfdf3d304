"""The sandbox, over HTTP, does what Mailchimp is documented to do (``mailchimp_behaviour.BEHAVIOUR``).

The end-to-end tests check the sync against the sandbox, and the plan simulator shares the sandbox's
model (``connector.core.transitions``); this suite ties both to Mailchimp's documented behaviour with
plain HTTP requests, as any client would send them. A failing row means the sandbox (and perhaps the
planner's model) is wrong about Mailchimp, not the row.
"""

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

from .conftest import AUDIENCE_BODY
from .mailchimp_behaviour import BEHAVIOUR, NOT_FOUND, Call, Documented


@pytest.fixture(scope="module")
def mailchimp() -> Iterator[SandboxHandle]:
    """One sandbox for the table; every row gets an audience of its own."""
    with running_sandbox(SandboxKnobs(seed=1)) as handle:
        yield handle


class Audience:
    """Plain HTTP to one sandbox audience, authenticated as any Mailchimp client is."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.auth = ("anystring", sandbox.api_key)
        created = self.session.post(f"{sandbox.base_url}/lists", json=AUDIENCE_BODY, timeout=10)
        created.raise_for_status()
        self.list_id = str(created.json()["id"])

    def send(self, call: Call) -> requests.Response:
        member = f"{self.sandbox.base_url}/lists/{self.list_id}/members"
        key = subscriber_hash(call.email)
        body: dict[str, Any] = {"email_address": call.email, **call.body}
        match call.kind:
            case "put":
                return self.session.put(f"{member}/{key}", json=body, timeout=10)
            case "patch":
                return self.session.patch(f"{member}/{key}", json=call.body, timeout=10)
            case "post":
                return self.session.post(member, json=body, timeout=10)
            case "archive":
                return self.session.delete(f"{member}/{key}", timeout=10)
            case "forget":
                return self.session.post(f"{member}/{key}/actions/delete-permanent", timeout=10)
            case person if person.startswith("person:"):
                act = person.removeprefix("person:")
                simulated = f"{self.sandbox.root_url}/_sandbox/lists/{self.list_id}/members/{key}/{act}"
                return self.session.post(simulated, json={}, timeout=10)
        raise AssertionError(f"unknown call kind {call.kind!r}")

    def member(self, email: str) -> requests.Response:
        url = f"{self.sandbox.base_url}/lists/{self.list_id}/members/{subscriber_hash(email)}"
        return self.session.get(url, timeout=10)

    def confirmations(self, email: str) -> int:
        answer = self.session.get(f"{self.sandbox.root_url}/_sandbox/confirmations", timeout=10)
        answer.raise_for_status()
        key = subscriber_hash(email)
        sent = answer.json()["confirmations"]
        return sum(1 for c in sent if (c["list_id"], c["subscriber_hash"]) == (self.list_id, key))


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address (written here, not imported)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("row", BEHAVIOUR, ids=[row.behaviour for row in BEHAVIOUR])
def test_the_sandbox_does_what_mailchimp_documents(mailchimp: SandboxHandle, row: Documented) -> None:
    audience = Audience(mailchimp)
    for step in row.given:
        before = audience.send(step)
        assert before.status_code < 300, (step, before.status_code, before.text)

    answer = audience.send(row.then)

    assert answer.status_code == row.answer, answer.text
    if row.title is not None:
        assert answer.json()["title"] == row.title
    if row.detail is not None:
        assert row.detail in answer.json()["detail"]
    _assert_member_shows(audience, row)
    if row.confirmations is not None:
        assert audience.confirmations(row.then.email) == row.confirmations


def _assert_member_shows(audience: Audience, row: Documented) -> None:
    if row.member_status is None:
        return
    shown = audience.member(row.then.email)
    if row.member_status == NOT_FOUND:
        assert shown.status_code == 404, shown.text
        return
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == row.member_status


def test_every_row_names_its_sources() -> None:
    for row in BEHAVIOUR:
        assert row.sources, row.behaviour
        assert all(
            source.split(" ", 1)[0].split(":")[0] in {"DOCS", "SPEC", "HELP", "ISSUE"}
            for source in row.sources
        )
