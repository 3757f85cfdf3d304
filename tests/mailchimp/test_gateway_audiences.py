"""Audience calls: lists, merge fields, segments (tags and saved), webhooks, batches."""

import io
import json
import tarfile

import pytest
import responses
from responses import matchers

from connector.errors import FatalMailchimpError
from connector.mailchimp import (
    BatchOperation,
    ListContact,
    MailchimpGateway,
    SegmentCondition,
    SegmentType,
    WebhookEvent,
    WebhookSource,
)
from connector.mailchimp.archive import parse_batch_archive

from .conftest import BASE

LIST = "a1b2c3d4e5"
HOOK_URL = "https://cs.test/webhooks/mailchimp/s3cret"
RESULTS_URL = "https://mailchimp-api-batch.s3.amazonaws.com/abc-response.tar.gz?X-Amz-Signature=x"


def body_of(call: responses.Call) -> object:
    assert call.request.body is not None
    return json.loads(call.request.body)


def test_get_and_create_list(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    answer = {"id": LIST, "name": "Main", "double_optin": True, "stats": {"member_count": 12}}
    rsps.get(f"{BASE}/lists/{LIST}", json=answer)
    rsps.post(f"{BASE}/lists", json=answer)
    assert gateway.get_list(LIST).double_optin is True
    created = gateway.create_list(
        "Main",
        contact=ListContact("Acme AS", "Gate 1", "Oslo", "0150", "NO"),
        from_name="Acme",
        from_email="news@acme.test",
        permission_reminder="You bought from us.",
    )
    assert (created.id, created.member_count) == (LIST, 12)
    sent = body_of(rsps.calls[1])
    assert isinstance(sent, dict)
    assert sent["contact"]["city"] == "Oslo"
    assert sent["campaign_defaults"]["from_email"] == "news@acme.test"
    assert sent["double_optin"] is False


def test_merge_fields_read_and_create(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    field = {"merge_id": 3, "tag": "CITY", "name": "City", "type": "text", "required": False}
    rsps.get(f"{BASE}/lists/{LIST}/merge-fields", json={"merge_fields": [field], "total_items": 1})
    rsps.post(
        f"{BASE}/lists/{LIST}/merge-fields",
        json=field,
        match=[
            matchers.json_params_matcher({"tag": "CITY", "name": "City", "type": "text", "required": False})
        ],
    )
    assert [f.tag for f in gateway.merge_fields(LIST)] == ["CITY"]
    assert gateway.create_merge_field(LIST, "CITY", "City").merge_id == 3


def test_segments_by_type_and_creation(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    saved = {
        "id": 7,
        "name": "Marketing: offers",
        "type": "saved",
        "member_count": 3,
        "options": {
            "match": "all",
            "conditions": [
                {"condition_type": "StaticSegment", "field": "static_segment", "op": "static_is", "value": 42}
            ],
        },
    }
    rsps.get(
        f"{BASE}/lists/{LIST}/segments",
        json={"segments": [saved], "total_items": 1},
        match=[matchers.query_param_matcher({"type": "saved", "count": "1000", "offset": "0"})],
    )
    rsps.post(f"{BASE}/lists/{LIST}/segments", json=saved)
    rsps.post(
        f"{BASE}/lists/{LIST}/segments",
        json={"id": 42, "name": "cs:offers", "type": "static", "member_count": 0},
    )

    (found,) = gateway.segments(LIST, SegmentType.SAVED)
    assert found.type is SegmentType.SAVED
    assert found.conditions == (SegmentCondition("StaticSegment", "static_segment", "static_is", 42),)

    has_tag = SegmentCondition("StaticSegment", "static_segment", "static_is", 42)
    gateway.create_saved_segment(LIST, "Marketing: offers", [has_tag])
    assert body_of(rsps.calls[1]) == {
        "name": "Marketing: offers",
        "options": {
            "match": "all",
            "conditions": [
                {"condition_type": "StaticSegment", "field": "static_segment", "op": "static_is", "value": 42}
            ],
        },
    }
    tag = gateway.create_static_segment(LIST, "cs:offers")
    assert (tag.id, tag.type) == (42, SegmentType.STATIC)
    assert body_of(rsps.calls[2]) == {"name": "cs:offers", "static_segment": []}


def test_saved_segment_needs_one_to_ten_conditions(gateway: MailchimpGateway) -> None:
    with pytest.raises(ValueError, match=r"1\.\.10"):
        gateway.create_saved_segment(LIST, "x", [])


def test_segment_members_include_non_subscribed_by_default(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    member = {"id": "h", "email_address": "a@b.no", "status": "unsubscribed"}
    rsps.get(f"{BASE}/lists/{LIST}/segments/42/members", json={"members": [member], "total_items": 1})
    (found,) = gateway.segment_members(LIST, 42)
    assert found.status == "unsubscribed"
    query = str(rsps.calls[0].request.url)
    assert "include_unsubscribed=true" in query
    assert "include_cleaned=true" in query
    assert "include_transactional=true" in query


def test_webhook_registration_sends_every_flag_explicitly(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    created = {
        "id": "wh1",
        "url": HOOK_URL,
        "events": {
            "subscribe": True,
            "unsubscribe": True,
            "profile": False,
            "cleaned": True,
            "upemail": False,
        },
        "sources": {"user": True, "admin": True, "api": False},
        "signing_secret": "shh",
    }
    rsps.post(f"{BASE}/lists/{LIST}/webhooks", json=created)
    rsps.get(f"{BASE}/lists/{LIST}/webhooks", json={"webhooks": [created], "total_items": 1})
    rsps.delete(f"{BASE}/lists/{LIST}/webhooks/wh1", status=204)
    rsps.delete(f"{BASE}/lists/{LIST}/webhooks/gone", status=404, json={"title": "Resource Not Found"})

    events = [WebhookEvent.SUBSCRIBE, WebhookEvent.UNSUBSCRIBE, WebhookEvent.CLEANED]
    webhook = gateway.create_webhook(LIST, HOOK_URL, events)

    assert body_of(rsps.calls[0]) == {
        "url": HOOK_URL,
        "events": {
            "subscribe": True,
            "unsubscribe": True,
            "profile": False,
            "cleaned": True,
            "upemail": False,
            "campaign": False,
        },
        "sources": {"user": True, "admin": True, "api": False},
    }
    assert webhook.sources == frozenset({WebhookSource.USER, WebhookSource.ADMIN})
    assert webhook.signing_secret == "shh"
    assert "shh" not in repr(webhook)
    assert [w.id for w in gateway.list_webhooks(LIST)] == ["wh1"]
    assert gateway.delete_webhook(LIST, "wh1") is True
    assert gateway.delete_webhook(LIST, "gone") is False


def batch_json(status: str = "finished", url: str | None = RESULTS_URL) -> dict[str, object]:
    return {
        "id": "b1",
        "status": status,
        "total_operations": 2,
        "finished_operations": 2 if status == "finished" else 0,
        "errored_operations": 1 if status == "finished" else 0,
        "submitted_at": "2026-11-23T10:00:00+00:00",
        "completed_at": "2026-11-23T10:01:00+00:00" if status == "finished" else "",
        "response_body_url": url or "",
    }


def results_archive(files: dict[str, list[dict[str, object]]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        directory = tarfile.TarInfo("results")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        for name, entries in files.items():
            content = json.dumps(entries).encode()
            info = tarfile.TarInfo(f"results/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_start_batch_sends_bodies_as_json_strings(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.post(f"{BASE}/batches", json=batch_json("pending", None))
    status = gateway.start_batch(
        [
            BatchOperation("patch", f"/lists/{LIST}/members/h1", "op-1", body={"status": "unsubscribed"}),
            BatchOperation("GET", f"/lists/{LIST}/members", params={"count": "1000"}),
        ]
    )
    assert (status.id, status.status, status.finished) == ("b1", "pending", False)
    assert body_of(rsps.calls[0]) == {
        "operations": [
            {
                "method": "PATCH",
                "path": f"/lists/{LIST}/members/h1",
                "operation_id": "op-1",
                "body": '{"status":"unsubscribed"}',
            },
            {"method": "GET", "path": f"/lists/{LIST}/members", "params": {"count": "1000"}},
        ]
    }
    with pytest.raises(ValueError, match="at least one"):
        gateway.start_batch([])


def test_batch_results_are_downloaded_without_the_key_and_untarred(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(f"{BASE}/batches/b1", json=batch_json())
    archive = results_archive(
        {
            "1.json": [{"status_code": 200, "operation_id": "op-1", "response": '{"id": "h1"}'}],
            "2.json": [
                {"status_code": 400, "operation_id": "op-2", "response": '{"title": "Invalid Resource"}'},
                {"status_code": 204, "operation_id": None, "response": ""},
            ],
        }
    )
    rsps.get(RESULTS_URL, body=archive, content_type="application/x-tar")

    results = gateway.batch_results("b1")

    assert [(r.operation_id, r.status_code) for r in results] == [("op-1", 200), ("op-2", 400), (None, 204)]
    assert results[0].response == {"id": "h1"}
    assert results[2].response is None
    assert "Authorization" not in rsps.calls[1].request.headers
    assert gateway.batch_status("b1").succeeded is False


def test_batch_results_of_an_unfinished_batch_is_a_caller_error(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(f"{BASE}/batches/b1", json=batch_json("started", None))
    with pytest.raises(ValueError, match="not finished"):
        gateway.batch_results("b1")


def test_archive_that_is_not_a_tar_is_fatal() -> None:
    with pytest.raises(FatalMailchimpError, match="tar"):
        parse_batch_archive(b"definitely not gzip")
