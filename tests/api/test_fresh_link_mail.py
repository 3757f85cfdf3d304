"""The expired/tampered-link page's fresh link goes by the configured route (Mailchimp Transactional: the
sandbox over real HTTP), to the stored address only, at most ``fresh_links_per_address`` a day, with the
same answer whatever the address; with no route the page offers no form and says, truthfully, that
nothing is sent, to any address."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector.api.app import create_app
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.services.preference_links import issue_token
from connector.store.engine import unit_of_work
from connector.store.tables import ContactRow
from tests.api.conftest import api_settings, with_sections
from tests.api.privacy_support import with_privacy
from tests.sync.support import subscribe

EMAIL = "kari.lenke@example.no"
STRANGER = "ukjent.person@example.no"
PUBLIC = "https://privacy.example.no"


def _outbox(handle: SandboxHandle, email: str) -> list[dict[str, object]]:
    answer = requests.get(
        f"{handle.root_url}/sandbox/transactional/outbox", params={"email": email}, timeout=10
    )
    answer.raise_for_status()
    messages: list[dict[str, object]] = answer.json()["messages"]
    return messages


def _token(ctx: AppContext) -> str:
    with unit_of_work(ctx.engine) as session:
        contact_id = session.execute(select(ContactRow.id).where(ContactRow.email == EMAIL)).scalar_one()
    return issue_token(ctx.settings, contact_id, ctx.now())


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _ask(client: TestClient, email: str) -> str:
    page = client.get("/me/no-such-token")
    assert page.status_code == 404
    answer = client.post(
        "/me/no-such-token/fresh-link", data={"csrf_token": _csrf(page.text), "email": email, "lang": "en"}
    )
    assert answer.status_code == 200
    return answer.text


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def routed(ctx: AppContext, sandbox: SandboxHandle) -> Iterator[TestClient]:
    sandbox.runtime.reset()
    local = replace(ctx, settings=api_settings(ctx.settings))
    local = with_privacy(local, sandbox, public_url=PUBLIC, fresh_links_per_address=2)
    subscribe(local, EMAIL)
    with TestClient(create_app(local)) as client:
        yield client


def test_a_fresh_link_goes_through_transactional_to_the_stored_address_and_opens_the_page(
    routed: TestClient, sandbox: SandboxHandle
) -> None:
    answer = _ask(routed, "  Kari.Lenke@Example.NO ")  # typed differently: sent to the address we hold
    assert "If we hold that address, a fresh link is on its way" in answer
    assert EMAIL not in answer
    messages = _outbox(sandbox, EMAIL)
    assert len(messages) == 1
    mail = messages[0]
    assert mail["from_email"] == "personvern@example.no"
    assert mail["subject"] == "Your personal privacy link"
    text = str(mail["text"])
    link = next(word for word in text.split() if word.startswith(f"{PUBLIC}/me/"))
    opened = routed.get(link.removeprefix(PUBLIC))
    assert opened.status_code == 200
    assert EMAIL in opened.text  # the fresh link is the person's own page


def test_the_answer_is_the_same_for_a_stranger_and_over_the_limit_and_nothing_more_is_sent(
    routed: TestClient, sandbox: SandboxHandle
) -> None:
    answers = [_ask(routed, EMAIL) for _ in range(3)]  # the limit is 2 a day
    answers.append(_ask(routed, STRANGER))
    answers.append(_ask(routed, "not an address"))
    assert len(set(answers)) == 1
    assert len(_outbox(sandbox, EMAIL)) == 2
    assert _outbox(sandbox, STRANGER) == []


def test_with_no_route_the_page_offers_no_form_and_says_nothing_was_sent(ctx: AppContext) -> None:
    local = with_privacy(replace(ctx, settings=api_settings(ctx.settings)))  # no Transactional key
    assert local.settings.transactional.api_key is None
    subscribe(local, EMAIL)
    with TestClient(create_app(local)) as client:
        page = client.get("/me/no-such-token?lang=en")
        assert page.status_code == 404
        assert 'name="email"' not in page.text
        assert "We cannot send a fresh link by e-mail" in page.text
        token = _token(local)  # a form posted anyway (the CSRF token of a valid page of the link)
        csrf = _csrf(client.get(f"/me/{token}").text)
        known, unknown = (
            client.post(f"/me/{token}/fresh-link", data={"csrf_token": csrf, "email": e, "lang": "en"})
            for e in (EMAIL, STRANGER)
        )
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text
        assert "nothing was sent to any address" in known.text
        assert "on its way" not in known.text


def test_a_sender_address_is_part_of_the_route(ctx: AppContext, sandbox: SandboxHandle) -> None:
    local = with_privacy(replace(ctx, settings=api_settings(ctx.settings)), sandbox)
    local = replace(local, settings=with_sections(local.settings, transactional={"from_email": None}))
    with TestClient(create_app(local)) as client:
        assert 'name="email"' not in client.get("/me/no-such-token").text
