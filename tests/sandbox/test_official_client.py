"""The official mailchimp-marketing 3.0.80 client, unmodified, performs every operation consent-sync
needs against the sandbox, with Mailchimp's semantics."""

import io
import json
import tarfile
import time
from typing import Any

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from connector.core.remote import subscriber_hash
from connector.sandbox.server import SandboxHandle

from .conftest import AUDIENCE_BODY, Receiver, official_client

ANN = "ann.berg@konsert.no"
BOB = "bob.dahl@konsert.no"


def problem(error: ApiClientError) -> dict[str, Any]:
    body = json.loads(error.text)
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == error.status_code
    return body


def expect_problem(status: int, title: str, call: Any, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ApiClientError) as caught:
        call(*args, **kwargs)
    assert caught.value.status_code == status
    body = problem(caught.value)
    assert body["title"] == title
    return body


def put(client: Any, list_id: str, email: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.lists.set_list_member(
        list_id, subscriber_hash(email), {"email_address": email, **body}
    )
    return result


def test_ping_and_auth(client: Any, sandbox: SandboxHandle) -> None:
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    wrong_dc = official_client(sandbox)
    wrong_dc.set_config({"api_key": "anything-us9"})
    wrong_dc.api_client.host = sandbox.base_url
    expect_problem(401, "API Key Invalid", wrong_dc.ping.get)


def test_lists_create_get_and_list(client: Any) -> None:
    created = client.lists.create_list(AUDIENCE_BODY)
    assert created["name"] == AUDIENCE_BODY["name"]
    assert client.lists.get_list(created["id"])["id"] == created["id"]
    listed = client.lists.get_all_lists()
    assert listed["total_items"] == 1
    assert listed["lists"][0]["id"] == created["id"]
    expect_problem(404, "Resource Not Found", client.lists.get_list, "nope")
    expect_problem(400, "Invalid Resource", client.lists.create_list, {"name": "incomplete"})


def test_merge_fields(client: Any, list_id: str) -> None:
    tags = {f["tag"] for f in client.lists.get_list_merge_fields(list_id)["merge_fields"]}
    assert {"FNAME", "LNAME"} <= tags
    field = client.lists.add_list_merge_field(
        list_id, {"name": "Customer number", "type": "text", "tag": "CUSTNO"}
    )
    assert client.lists.get_list_merge_field(list_id, field["merge_id"])["tag"] == "CUSTNO"
    member = put(client, list_id, ANN, status_if_new="subscribed", merge_fields={"CUSTNO": "8812"})
    assert member["merge_fields"]["CUSTNO"] == "8812"
    bad = expect_problem(
        400,
        "Invalid Resource",
        put,
        client,
        list_id,
        BOB,
        status_if_new="subscribed",
        merge_fields={"NOPE": "x"},
    )
    assert bad["errors"][0]["field"] == "merge_fields.NOPE"


def test_put_upserts_with_status_if_new_and_status(client: Any, list_id: str) -> None:
    member = put(client, list_id, ANN, status_if_new="subscribed", merge_fields={"FNAME": "Ann"})
    assert member["id"] == subscriber_hash(ANN)
    assert member["status"] == "subscribed"
    assert member["list_id"] == list_id
    assert {"unique_email_id", "last_changed", "tags", "tags_count", "timestamp_opt"} <= member.keys()
    same = put(client, list_id, ANN, status_if_new="transactional")
    assert same["status"] == "subscribed"
    moved = put(client, list_id, ANN, status_if_new="subscribed", status="transactional")
    assert moved["status"] == "transactional"


def test_add_member_twice_is_member_exists(client: Any, list_id: str) -> None:
    client.lists.add_list_member(list_id, {"email_address": ANN, "status": "subscribed", "tags": ["cs:news"]})
    assert client.lists.get_list_member(list_id, subscriber_hash(ANN))["tags"][0]["name"] == "cs:news"
    expect_problem(
        400,
        "Member Exists",
        client.lists.add_list_member,
        list_id,
        {"email_address": ANN, "status": "subscribed"},
    )


def test_patch_get_and_unsubscribe_is_compliance_state(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    patched = client.lists.update_list_member(
        list_id, subscriber_hash(ANN), {"merge_fields": {"LNAME": "Berg"}}
    )
    assert patched["merge_fields"]["LNAME"] == "Berg"
    client.lists.update_list_member(list_id, subscriber_hash(ANN), {"status": "unsubscribed"})
    fetched = client.lists.get_list_member(list_id, subscriber_hash(ANN))
    assert fetched["status"] == "unsubscribed"
    assert fetched["unsubscribe_reason"]
    body = expect_problem(
        400,
        "Member In Compliance State",
        put,
        client,
        list_id,
        ANN,
        status_if_new="subscribed",
        status="subscribed",
    )
    assert "compliance state" in body["detail"]
    expect_problem(
        400,
        "Member In Compliance State",
        client.lists.update_list_member,
        list_id,
        subscriber_hash(ANN),
        {"status": "subscribed"},
    )


def test_pending_sends_one_simulated_confirmation(client: Any, list_id: str, sandbox: SandboxHandle) -> None:
    put(client, list_id, ANN, status_if_new="pending")
    put(client, list_id, ANN, status_if_new="pending", status="pending")
    confirmations = requests.get(f"{sandbox.root_url}/_sandbox/confirmations", timeout=5).json()
    assert [c["subscriber_hash"] for c in confirmations["confirmations"]] == [subscriber_hash(ANN)]
    requests.post(
        f"{sandbox.root_url}/_sandbox/lists/{list_id}/members/{subscriber_hash(ANN)}/confirm", timeout=5
    )
    assert client.lists.get_list_member(list_id, subscriber_hash(ANN))["status"] == "subscribed"


def test_archive_then_status_if_new_does_not_unarchive(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    response = client.lists.delete_list_member(list_id, subscriber_hash(ANN))
    assert response.status_code == 204
    assert client.lists.get_list_member(list_id, subscriber_hash(ANN))["status"] == "archived"
    assert put(client, list_id, ANN, status_if_new="subscribed")["status"] == "archived"
    assert (
        put(client, list_id, ANN, status_if_new="subscribed", status="subscribed")["status"] == "subscribed"
    )


def test_delete_permanent_forgets_the_address(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    response = client.lists.delete_list_member_permanent(list_id, subscriber_hash(ANN))
    assert response.status_code == 204
    expect_problem(404, "Resource Not Found", client.lists.get_list_member, list_id, subscriber_hash(ANN))
    body = expect_problem(
        400, "Forgotten Email Not Subscribed", put, client, list_id, ANN, status_if_new="pending"
    )
    assert "permanently deleted" in body["detail"]
    expect_problem(
        400,
        "Forgotten Email Not Subscribed",
        client.lists.add_list_member,
        list_id,
        {"email_address": ANN, "status": "pending"},
    )


def test_fake_looking_address_is_invalid_resource(client: Any, list_id: str) -> None:
    body = expect_problem(
        400, "Invalid Resource", put, client, list_id, "someone@example.com", status_if_new="subscribed"
    )
    assert "looks fake or invalid" in body["detail"]


def test_list_members_with_filters_paging_and_fields(client: Any, list_id: str) -> None:
    for index in range(5):
        put(client, list_id, f"person{index}@konsert.no", status_if_new="subscribed")
    time.sleep(1.05)
    watermark = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    client.lists.update_list_member(
        list_id, subscriber_hash("person0@konsert.no"), {"status": "unsubscribed"}
    )
    page = client.lists.get_list_members_info(list_id, count=2, offset=1)
    assert page["total_items"] == 5
    assert len(page["members"]) == 2
    subscribed = client.lists.get_list_members_info(list_id, status="subscribed", count=1000)
    assert subscribed["total_items"] == 4
    changed = client.lists.get_list_members_info(list_id, since_last_changed=watermark)
    assert [m["email_address"] for m in changed["members"]] == ["person0@konsert.no"]
    unsubscribed = client.lists.get_list_members_info(
        list_id, status="unsubscribed", unsubscribed_since=watermark
    )
    assert unsubscribed["total_items"] == 1
    narrow = client.lists.get_list_members_info(list_id, fields=["members.email_address", "total_items"])
    assert set(narrow) == {"members", "total_items"}
    assert set(narrow["members"][0]) == {"email_address"}
    trimmed = client.lists.get_list_members_info(list_id, exclude_fields=["members.merge_fields", "_links"])
    assert "merge_fields" not in trimmed["members"][0]
    assert "_links" not in trimmed
    with pytest.raises(ValueError, match="1000"):  # the client itself refuses count > 1000
        client.lists.get_list_members_info(list_id, count=1001)


def test_member_tags_and_tag_search(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    body = {
        "tags": [{"name": "cs:news", "status": "active"}, {"name": "vip", "status": "active"}],
        "is_syncing": True,
    }
    assert client.lists.update_list_member_tags(list_id, subscriber_hash(ANN), body).status_code == 204
    client.lists.update_list_member_tags(
        list_id, subscriber_hash(ANN), {"tags": [{"name": "vip", "status": "inactive"}]}
    )
    tags = client.lists.get_list_member_tags(list_id, subscriber_hash(ANN))
    assert [t["name"] for t in tags["tags"]] == ["cs:news"]
    found = client.lists.tag_search(list_id, name="cs:")
    assert [t["name"] for t in found["tags"]] == ["cs:news"]
    segments = client.lists.list_segments(list_id, type="static")["segments"]
    assert {s["name"] for s in segments} == {"cs:news", "vip"}
    assert {s["type"] for s in segments} == {"static"}


def test_static_segment_bulk_add_and_remove(client: Any, list_id: str) -> None:
    for email in (ANN, BOB):
        put(client, list_id, email, status_if_new="subscribed")
    tag = client.lists.create_segment(list_id, {"name": "cs:offers", "static_segment": [ANN]})
    assert tag["type"] == "static"
    assert tag["member_count"] == 1
    result = client.lists.batch_segment_members(
        {"members_to_add": [BOB, "stranger@konsert.no"], "members_to_remove": [ANN]}, list_id, tag["id"]
    )
    assert [m["email_address"] for m in result["members_added"]] == [BOB]
    assert [m["email_address"] for m in result["members_removed"]] == [ANN]
    assert result["errors"][0]["email_addresses"] == ["stranger@konsert.no"]
    assert client.lists.get_list_member(list_id, subscriber_hash(BOB))["tags"][0]["name"] == "cs:offers"
    too_many = {"members_to_add": [f"p{i}@konsert.no" for i in range(501)]}
    expect_problem(400, "Invalid Resource", client.lists.batch_segment_members, too_many, list_id, tag["id"])
    at_limit = {"members_to_add": [f"p{i}@konsert.no" for i in range(500)]}
    assert client.lists.batch_segment_members(at_limit, list_id, tag["id"])["error_count"] == 500


def test_saved_segment_with_tag_conditions(client: Any, list_id: str) -> None:
    for email in (ANN, BOB, "cara@konsert.no"):
        put(client, list_id, email, status_if_new="subscribed")
    news = client.lists.create_segment(list_id, {"name": "cs:news", "static_segment": [ANN, BOB]})
    vip = client.lists.create_segment(list_id, {"name": "vip", "static_segment": [BOB]})
    client.lists.update_list_member(list_id, subscriber_hash("cara@konsert.no"), {"status": "unsubscribed"})

    def condition(segment: dict[str, Any], op: str) -> dict[str, Any]:
        return {
            "condition_type": "StaticSegment",
            "field": "static_segment",
            "op": op,
            "value": segment["id"],
        }

    all_of = client.lists.create_segment(
        list_id,
        {
            "name": "News, not VIP",
            "options": {
                "match": "all",
                "conditions": [condition(news, "static_is"), condition(vip, "static_not")],
            },
        },
    )
    assert all_of["type"] == "saved"
    members = client.lists.get_segment_members_list(list_id, all_of["id"])
    assert [m["email_address"] for m in members["members"]] == [ANN]
    any_of = client.lists.create_segment(
        list_id,
        {
            "name": "News or not VIP",
            "options": {
                "match": "any",
                "conditions": [condition(news, "static_is"), condition(vip, "static_not")],
            },
        },
    )
    subscribed_only = client.lists.get_segment_members_list(list_id, any_of["id"])
    assert subscribed_only["total_items"] == 2
    with_unsubscribed = client.lists.get_segment_members_list(
        list_id, any_of["id"], include_unsubscribed=True
    )
    assert with_unsubscribed["total_items"] == 3
    assert client.lists.get_segment(list_id, any_of["id"])["options"]["match"] == "any"


def test_batch_subscribe_reports_per_member_errors_with_200(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    client.lists.update_list_member(list_id, subscriber_hash(ANN), {"status": "unsubscribed"})
    body = {
        "members": [
            {
                "email_address": BOB,
                "status": "subscribed",
                "merge_fields": {"FNAME": "Bob"},
                "tags": ["cs:news"],
            },
            {"email_address": ANN, "status": "subscribed"},
            {"email_address": "x@example.com", "status": "subscribed"},
        ]
    }
    result = client.lists.batch_list_members(list_id, body)
    assert result["total_created"] == 1
    assert result["error_count"] == 2
    codes = {e["email_address"]: e["error_code"] for e in result["errors"]}
    assert codes == {ANN: "ERROR_CONTACT_EXISTS", "x@example.com": "ERROR_GENERIC"}
    updated = client.lists.batch_list_members(list_id, body | {"update_existing": True})
    errors = {e["email_address"]: e["error"] for e in updated["errors"]}
    assert "compliance state" in errors[ANN]
    assert updated["total_updated"] == 1
    synced = client.lists.batch_list_members(
        list_id,
        {"members": [{"email_address": BOB, "tags": ["vip"]}], "update_existing": True, "sync_tags": True},
    )
    assert [t["name"] for t in synced["updated_members"][0]["tags"]] == ["vip"]
    too_many = {
        "members": [{"email_address": f"p{i}@konsert.no", "status": "subscribed"} for i in range(501)]
    }
    expect_problem(400, "Invalid Resource", client.lists.batch_list_members, list_id, too_many)


def test_batches_round_trip(client: Any, list_id: str) -> None:
    put(client, list_id, ANN, status_if_new="subscribed")
    operations = [
        {
            "method": "GET",
            "path": f"/lists/{list_id}/members/{subscriber_hash(ANN)}",
            "operation_id": "read-ann",
        },
        {
            "method": "PUT",
            "path": f"/lists/{list_id}/members/{subscriber_hash(BOB)}",
            "operation_id": "put-bob",
            "body": json.dumps({"email_address": BOB, "status_if_new": "subscribed"}),
        },
        {
            "method": "GET",
            "path": f"/lists/{list_id}/members",
            "params": {"count": 1},
            "operation_id": "page",
        },
        {"method": "GET", "path": f"/lists/{list_id}/members/{'0' * 32}", "operation_id": "missing"},
    ]
    batch = client.batches.start({"operations": operations})
    assert batch["status"] == "pending"
    deadline = time.monotonic() + 120  # only stops a broken sandbox hanging the test
    while (status := client.batches.status(batch["id"]))["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["total_operations"] == status["finished_operations"] == 4
    assert status["errored_operations"] == 1
    archive = requests.get(status["response_body_url"], timeout=5)
    results = {}
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            for result in json.load(extracted):
                results[result["operation_id"]] = result
    assert results["read-ann"]["status_code"] == 200
    assert json.loads(results["read-ann"]["response"])["email_address"] == ANN
    assert json.loads(results["put-bob"]["response"])["status"] == "subscribed"
    assert json.loads(results["page"]["response"])["total_items"] == 2
    assert results["missing"]["status_code"] == 404
    assert client.lists.get_list_member(list_id, subscriber_hash(BOB))["status"] == "subscribed"
    assert client.batches.list()["total_items"] == 1


def test_webhooks_create_list_delete(client: Any, list_id: str, receiver: Receiver) -> None:
    body = {
        "url": receiver.url,
        "events": {
            "subscribe": True,
            "unsubscribe": True,
            "profile": False,
            "cleaned": True,
            "upemail": True,
            "campaign": False,
        },
        "sources": {"user": True, "admin": True, "api": False},
    }
    hook = client.lists.create_list_webhook(list_id, body)
    assert hook["url"] == receiver.url
    assert hook["sources"] == body["sources"]
    assert client.lists.get_list_webhooks(list_id)["webhooks"][0]["id"] == hook["id"]
    assert client.lists.delete_list_webhook(list_id, hook["id"]).status_code == 204
    assert client.lists.get_list_webhooks(list_id)["total_items"] == 0
    receiver.get_status = 404
    detail = expect_problem(400, "Invalid Resource", client.lists.create_list_webhook, list_id, body)[
        "detail"
    ]
    assert "couldn't verify" in detail
