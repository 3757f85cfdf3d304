"""Webhook delivery: form-encoded like Mailchimp, filtered by event and source, retried after non-2xx
with (time-scaled) backoff, disabled on 410, and signed when signing is on."""

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from connector.core.remote import subscriber_hash
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

from .conftest import AUDIENCE_BODY, Receiver, official_client

ANN = "ann.berg@konsert.no"
SECRET = "whsec-test"
ALL_EVENTS = {"subscribe": True, "unsubscribe": True, "profile": True, "cleaned": True, "upemail": True}


@pytest.fixture
def fast_sandbox() -> Iterator[SandboxHandle]:
    knobs = SandboxKnobs(webhook_time_scale=0.0005, webhook_max_attempts=4, signing_secret=SECRET)
    with running_sandbox(knobs) as handle:
        yield handle


def setup(
    sandbox: SandboxHandle, receiver: Receiver, sources: dict[str, bool]
) -> tuple[Any, str, dict[str, Any]]:
    client = official_client(sandbox)
    list_id = str(client.lists.create_list(AUDIENCE_BODY)["id"])
    client.lists.set_list_member(
        list_id,
        subscriber_hash(ANN),
        {"email_address": ANN, "status_if_new": "subscribed", "merge_fields": {"FNAME": "Ann"}},
    )
    hook = client.lists.create_list_webhook(
        list_id, {"url": receiver.url, "events": ALL_EVENTS, "sources": sources}
    )
    return client, list_id, hook


def person(sandbox: SandboxHandle, list_id: str, action: str, **body: Any) -> requests.Response:
    url = f"{sandbox.root_url}/_sandbox/lists/{list_id}/members/{subscriber_hash(ANN)}/{action}"
    return requests.post(url, json=body, timeout=5)


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode()))


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= 300


def test_unsubscribe_by_the_person_is_posted_form_encoded_and_signed(
    fast_sandbox: SandboxHandle, receiver: Receiver
) -> None:
    _, list_id, hook = setup(fast_sandbox, receiver, {"user": True, "admin": True, "api": False})
    assert hook["signing_secret"] == SECRET
    person(fast_sandbox, list_id, "unsubscribe", campaign_id="cb398d21d2")
    assert fast_sandbox.wait_for_webhooks()
    [post] = receiver.posts
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.path == "/hooks/mailchimp/s3cret"
    assert verify(SECRET, post.headers["X-Mailchimp-Signature"], post.body)
    assert not verify("wrong", post.headers["X-Mailchimp-Signature"], post.body)
    data = form(post.body)
    assert data["type"] == "unsubscribe"
    assert data["data[action]"] == "unsub"
    assert data["data[reason]"] == "manual"
    assert data["data[email]"] == ANN
    assert data["data[list_id]"] == list_id
    assert data["data[campaign_id]"] == "cb398d21d2"
    assert data["data[merges][EMAIL]"] == ANN
    assert data["data[merges][FNAME]"] == "Ann"
    assert time.strptime(data["fired_at"], "%Y-%m-%d %H:%M:%S")
    assert post.body.decode().startswith("type=unsubscribe&fired_at=")
    assert "data%5Bmerges%5D%5BFNAME%5D=Ann" in post.body.decode()


def test_api_changes_do_not_echo_to_a_webhook_without_the_api_source(
    fast_sandbox: SandboxHandle, receiver: Receiver
) -> None:
    client, list_id, _ = setup(fast_sandbox, receiver, {"user": True, "admin": True, "api": False})
    client.lists.update_list_member(list_id, subscriber_hash(ANN), {"status": "unsubscribed"})
    person(fast_sandbox, list_id, "tags", add=["vip"])
    assert fast_sandbox.wait_for_webhooks()
    assert [form(p.body)["type"] for p in receiver.posts] == ["profile"]


def test_api_changes_reach_a_webhook_with_the_api_source(
    fast_sandbox: SandboxHandle, receiver: Receiver
) -> None:
    client, list_id, _ = setup(fast_sandbox, receiver, {"user": False, "admin": False, "api": True})
    client.lists.update_list_member(list_id, subscriber_hash(ANN), {"status": "unsubscribed"})
    client.lists.delete_list_member(list_id, subscriber_hash(ANN))
    person(fast_sandbox, list_id, "tags", add=["vip"])
    assert fast_sandbox.wait_for_webhooks()
    events = [(form(p.body)["type"], form(p.body).get("data[action]")) for p in receiver.posts]
    assert events == [("unsubscribe", "unsub"), ("unsubscribe", "delete")]


def test_non_2xx_is_retried_with_backoff_until_delivered(
    fast_sandbox: SandboxHandle, receiver: Receiver
) -> None:
    _, list_id, _ = setup(fast_sandbox, receiver, {"user": True, "admin": True, "api": False})
    receiver.statuses = [500, 503, 200]
    person(fast_sandbox, list_id, "bounce")
    assert fast_sandbox.wait_for_webhooks()
    assert len(receiver.posts) == 3
    assert {form(p.body)["type"] for p in receiver.posts} == {"cleaned"}
    assert len({p.body for p in receiver.posts}) == 1
    deliveries = requests.get(f"{fast_sandbox.root_url}/_sandbox/webhook-deliveries", timeout=5).json()[
        "deliveries"
    ]
    assert [(d["attempt"], d["status"], d["delivered"]) for d in deliveries] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    first, last = (
        time.mktime(time.strptime(d["at"][:19], "%Y-%m-%dT%H:%M:%S")) for d in (deliveries[0], deliveries[2])
    )
    assert last >= first


def test_retries_stop_after_the_last_attempt(fast_sandbox: SandboxHandle, receiver: Receiver) -> None:
    _, list_id, _ = setup(fast_sandbox, receiver, {"user": True, "admin": True, "api": False})
    receiver.statuses = [500] * 10
    person(fast_sandbox, list_id, "complain")
    assert fast_sandbox.wait_for_webhooks()
    assert len(receiver.posts) == 4
    assert form(receiver.posts[0].body)["data[reason]"] == "abuse"


def test_410_disables_the_webhook(fast_sandbox: SandboxHandle, receiver: Receiver) -> None:
    client, list_id, hook = setup(fast_sandbox, receiver, {"user": True, "admin": True, "api": False})
    receiver.statuses = [410]
    person(fast_sandbox, list_id, "unsubscribe")
    assert fast_sandbox.wait_for_webhooks()
    person(fast_sandbox, list_id, "tags", add=["x"])
    assert fast_sandbox.wait_for_webhooks()
    assert len(receiver.posts) == 1
    assert client.lists.get_list_webhook(list_id, hook["id"])["enabled"] is False


def test_unsigned_when_no_secret(receiver: Receiver) -> None:
    with running_sandbox(SandboxKnobs(webhook_time_scale=0.001)) as sandbox:
        _, list_id, hook = setup(sandbox, receiver, {"user": True, "admin": True, "api": False})
        assert hook["signing_enabled"] is False
        person(sandbox, list_id, "unsubscribe")
        assert sandbox.wait_for_webhooks()
        assert "X-Mailchimp-Signature" not in receiver.posts[0].headers
