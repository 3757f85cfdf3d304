"""``/_sandbox`` endpoints simulate what people and admins do inside Mailchimp."""

from typing import Any

import requests

from connector.core.remote import subscriber_hash
from connector.sandbox.server import SandboxHandle

from .test_official_client import expect_problem, put

ANN = "ann.berg@konsert.no"


def act(
    sandbox: SandboxHandle, list_id: str, action: str, email: str = ANN, **body: Any
) -> requests.Response:
    url = f"{sandbox.root_url}/_sandbox/lists/{list_id}/members/{subscriber_hash(email)}/{action}"
    return requests.post(url, json=body, timeout=5)


def status(client: Any, list_id: str, email: str = ANN) -> str:
    return str(client.lists.get_list_member(list_id, subscriber_hash(email))["status"])


def test_unsubscribe_from_a_campaign_is_a_compliance_state(
    client: Any, list_id: str, sandbox: SandboxHandle
) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    assert act(sandbox, list_id, "unsubscribe", campaign_id="c1").status_code == 200
    assert status(client, list_id) == "unsubscribed"
    expect_problem(
        400,
        "Member In Compliance State",
        put,
        client,
        list_id,
        ANN,
        status_if_new="subscribed",
        status="subscribed",
    )


def test_spam_complaint_unsubscribes_with_abuse_reason(
    client: Any, list_id: str, sandbox: SandboxHandle
) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    member = act(sandbox, list_id, "complain").json()
    assert member["status"] == "unsubscribed"
    assert member["unsubscribe_reason"] == "Abuse report"


def test_hard_bounce_cleans_the_member(client: Any, list_id: str, sandbox: SandboxHandle) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    act(sandbox, list_id, "bounce")
    assert status(client, list_id) == "cleaned"
    expect_problem(
        400,
        "Member In Compliance State",
        put,
        client,
        list_id,
        ANN,
        status_if_new="subscribed",
        status="pending",
    )


def test_email_change_moves_the_member_to_a_new_hash(
    client: Any, list_id: str, sandbox: SandboxHandle
) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    member = act(sandbox, list_id, "change-email", new_email="ann@nyadresse.no").json()
    assert member["id"] == subscriber_hash("ann@nyadresse.no")
    assert status(client, list_id, "ann@nyadresse.no") == "subscribed"
    expect_problem(404, "Resource Not Found", client.lists.get_list_member, list_id, subscriber_hash(ANN))


def test_confirming_a_pending_sign_up(client: Any, list_id: str, sandbox: SandboxHandle) -> None:
    put(client, list_id, ANN, status_if_new="subscribed", status="unsubscribed")
    put(client, list_id, ANN, status_if_new="pending", status="pending")
    assert status(client, list_id) == "pending"
    assert act(sandbox, list_id, "confirm").json()["status"] == "subscribed"
    assert act(sandbox, list_id, "confirm").status_code == 400


def test_admin_edits_tags_by_hand(client: Any, list_id: str, sandbox: SandboxHandle) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    act(sandbox, list_id, "tags", add=["cs:news", "vip"])
    act(sandbox, list_id, "tags", remove=["vip"])
    tags = client.lists.get_list_member_tags(list_id, subscriber_hash(ANN))["tags"]
    assert [t["name"] for t in tags] == ["cs:news"]


def test_unknown_member_is_404(list_id: str, sandbox: SandboxHandle) -> None:
    response = act(sandbox, list_id, "unsubscribe", email="nobody@konsert.no")
    assert response.status_code == 404
    assert response.json()["title"] == "Resource Not Found"
