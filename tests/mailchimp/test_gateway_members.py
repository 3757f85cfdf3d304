"""Member calls: request shapes, and per-member rejections coming back as data."""

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connector.errors import FatalMailchimpError
from connector.mailchimp import (
    MailchimpGateway,
    MemberOutcome,
    MemberRecord,
    MemberStatus,
    MemberWrite,
    RejectionKind,
)

from .conftest import API_KEY, BASE, md5

LIST = "a1b2c3d4e5"
ANN = "Ann@Example.no"


def member_json(email: str, status: str = "subscribed", **extra: object) -> dict[str, object]:
    return {
        "id": md5(email),
        "email_address": email.lower(),
        "status": status,
        "last_changed": "2026-11-20T10:00:00+00:00",
        "merge_fields": {"FNAME": "Ann", "ADDRESS": {"addr1": "Gate 1", "city": "Oslo"}},
        "tags": [{"id": 1, "name": "cs:newsletter"}],
        "tags_count": 1,
        **extra,
    }


def problem(status: int, title: str, detail: str, **extra: object) -> dict[str, object]:
    return {
        "type": "https://mailchimp.com/developer/",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def body_of(call: responses.Call) -> dict[str, object]:
    assert call.request.body is not None
    loaded: dict[str, object] = json.loads(call.request.body)
    return loaded


def query_of(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(call.request.url)).query)


def test_requests_carry_basic_auth_timeouts_and_json_headers(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(f"{BASE}/ping", json={"health_status": "Everything's Chimpy!"})
    assert gateway.ping() == "Everything's Chimpy!"
    call = rsps.calls[0]
    expected = base64.b64encode(f"consent-sync:{API_KEY}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {expected}"
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.headers["User-Agent"].startswith("consent-sync/")
    assert call.request.req_kwargs["timeout"] == (5.0, 5.0)  # type: ignore[attr-defined]  # responses adds it


def test_batch_subscribe_sends_members_with_tags_and_flags(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.post(
        f"{BASE}/lists/{LIST}",
        json={"new_members": [member_json(ANN)], "updated_members": [], "errors": [], "error_count": 0},
    )
    member = MemberWrite(
        email_address=ANN,
        status=MemberStatus.SUBSCRIBED,
        merge_fields={"FNAME": "Ann"},
        tags=("cs:newsletter",),
        timestamp_opt=datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
    )
    report = gateway.batch_subscribe(LIST, [member], skip_merge_validation=True)

    sent = body_of(rsps.calls[0])
    assert sent == {
        "members": [
            {
                "email_address": ANN,
                "status": "subscribed",
                "merge_fields": {"FNAME": "Ann"},
                "tags": ["cs:newsletter"],
                "timestamp_opt": "2026-11-01T09:30:00+00:00",
            }
        ],
        "update_existing": True,
        "sync_tags": False,
    }
    assert query_of(rsps.calls[0]) == {"skip_merge_validation": ["true"]}
    assert report.new_members[0].subscriber_hash == md5(ANN)
    assert report.new_members[0].tags == frozenset({"cs:newsletter"})
    assert report.errors == ()


def test_per_member_errors_of_batch_subscribe_are_data(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    errors = [
        {
            "email_address": "gone@example.no",
            "error": "gone@example.no is in a compliance state due to unsubscribe, bounce, or compliance "
            "review and cannot be subscribed.",
            "error_code": "ERROR_GENERIC",
        },
        {
            "email_address": "erased@example.no",
            "error": "erased@example.no was permanently deleted and cannot be re-imported. The contact must "
            "re-subscribe to get back on the list.",
            "error_code": "ERROR_GENERIC",
        },
        {
            "email_address": "fake@example.com",
            "error": "fake@example.com looks fake or invalid, please enter a real email address.",
            "error_code": "ERROR_GENERIC",
        },
        {
            "email_address": "bday@example.no",
            "error": "Invalid merge field",
            "error_code": "ERROR_GENERIC",
            "field": "merge_fields.BDAY",
            "field_message": "Please enter a valid date",
        },
    ]
    rsps.post(
        f"{BASE}/lists/{LIST}",
        json={"new_members": [], "updated_members": [member_json(ANN)], "errors": errors, "error_count": 4},
    )
    writes = [MemberWrite(e["email_address"], status=MemberStatus.SUBSCRIBED) for e in errors]
    report = gateway.batch_subscribe(LIST, [*writes, MemberWrite(ANN, status=MemberStatus.SUBSCRIBED)])

    assert [e.kind for e in report.errors] == [
        RejectionKind.COMPLIANCE_STATE,
        RejectionKind.FORGOTTEN,
        RejectionKind.INVALID_ADDRESS,
        RejectionKind.INVALID_MERGE_FIELDS,
    ]
    first = report.errors[0]
    assert (first.email_address, first.subscriber_hash) == ("gone@example.no", md5("gone@example.no"))
    assert all("@" not in e.message for e in report.errors)
    assert report.errors[3].field == "merge_fields.BDAY"
    assert "Please enter a valid date" in report.errors[3].message
    assert len(report.updated_members) == 1


def test_batch_subscribe_refuses_more_than_500_without_calling(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    members = [MemberWrite(f"p{i}@example.no", status=MemberStatus.SUBSCRIBED) for i in range(501)]
    with pytest.raises(ValueError, match="at most 500"):
        gateway.batch_subscribe(LIST, members)
    with pytest.raises(ValueError, match="status"):
        gateway.batch_subscribe(LIST, [MemberWrite(ANN)])
    assert gateway.batch_subscribe(LIST, []).errors == ()
    assert len(rsps.calls) == 0


def test_bulk_segment_sends_lowercased_addresses_and_reports_errors_per_member(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.post(
        f"{BASE}/lists/{LIST}/segments/42",
        json={
            "members_added": [member_json(ANN)],
            "members_removed": [member_json("bob@example.no")],
            "errors": [
                {"email_addresses": ["x@example.no", "y@example.no"], "error": "Email addresses not on list"}
            ],
            "total_added": 1,
            "total_removed": 1,
            "error_count": 2,
        },
    )
    report = gateway.bulk_segment(
        LIST, 42, add=[ANN, "x@example.no"], remove=["Bob@example.no", "y@example.no"]
    )

    assert body_of(rsps.calls[0]) == {
        "members_to_add": ["ann@example.no", "x@example.no"],
        "members_to_remove": ["bob@example.no", "y@example.no"],
    }
    assert report.added == ("ann@example.no",)
    assert report.removed == ("bob@example.no",)
    assert [(e.email_address, e.kind) for e in report.errors] == [
        ("x@example.no", RejectionKind.OTHER),
        ("y@example.no", RejectionKind.OTHER),
    ]


@pytest.mark.parametrize("side", ["add", "remove"])
def test_bulk_segment_raises_above_500_per_side(
    rsps: responses.RequestsMock, gateway: MailchimpGateway, side: str
) -> None:
    emails = [f"p{i}@example.no" for i in range(501)]
    with pytest.raises(ValueError, match="at most 500"):
        gateway.bulk_segment(LIST, 42, **{side: emails})
    assert len(rsps.calls) == 0


def test_upsert_puts_to_the_hash_with_status_if_new(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.put(f"{BASE}/lists/{LIST}/members/{md5(ANN)}", json=member_json(ANN, "transactional"))
    result = gateway.upsert_member(
        LIST, MemberWrite(ANN, status_if_new=MemberStatus.TRANSACTIONAL, merge_fields={"FNAME": "Ann"})
    )
    assert body_of(rsps.calls[0]) == {
        "email_address": ANN,
        "status_if_new": "transactional",
        "merge_fields": {"FNAME": "Ann"},
    }
    assert isinstance(result, MemberRecord)
    assert result.status is MemberStatus.TRANSACTIONAL
    assert result.to_remote().merge_map == {"FNAME": "Ann", "ADDRESS": "Gate 1  Oslo"}


def test_upsert_into_compliance_state_is_an_outcome_not_an_exception(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    detail = f"{ANN.lower()} is in a compliance state due to unsubscribe, bounce, or compliance review."
    rsps.put(
        f"{BASE}/lists/{LIST}/members/{md5(ANN)}",
        json=problem(400, "Member In Compliance State", detail),
        status=400,
        content_type="application/problem+json; charset=utf-8",
    )
    result = gateway.upsert_member(LIST, MemberWrite(ANN, status=MemberStatus.SUBSCRIBED))
    assert isinstance(result, MemberOutcome)
    assert result.kind is RejectionKind.COMPLIANCE_STATE
    assert result.error_code == "Member In Compliance State"
    assert "@" not in result.message
    assert len(rsps.calls) == 1


def test_upsert_refuses_tags_and_archived(gateway: MailchimpGateway) -> None:
    with pytest.raises(ValueError, match="update_member_tags"):
        gateway.upsert_member(LIST, MemberWrite(ANN, status=MemberStatus.SUBSCRIBED, tags=("cs:x",)))
    with pytest.raises(ValueError, match="archive"):
        gateway.upsert_member(LIST, MemberWrite(ANN, status=MemberStatus.ARCHIVED))


def test_invalid_merge_fields_on_upsert_name_the_field(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.put(
        f"{BASE}/lists/{LIST}/members/{md5(ANN)}",
        json=problem(
            400,
            "Invalid Resource",
            "The resource submitted could not be validated. See the 'errors' array.",
            errors=[{"field": "merge_fields.FNAME", "message": "Data did not match any of the schemas."}],
        ),
        status=400,
    )
    result = gateway.upsert_member(LIST, MemberWrite(ANN, status_if_new=MemberStatus.SUBSCRIBED))
    assert isinstance(result, MemberOutcome)
    assert result.kind is RejectionKind.INVALID_RESOURCE
    assert result.field == "merge_fields.FNAME"


def test_patch_of_a_missing_member_is_a_not_found_outcome(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.patch(
        f"{BASE}/lists/{LIST}/members/{md5(ANN)}",
        json=problem(404, "Resource Not Found", "The requested resource could not be found."),
        status=404,
        match=[matchers.json_params_matcher({"status": "unsubscribed"})],
    )
    result = gateway.patch_member(LIST, md5(ANN), status=MemberStatus.UNSUBSCRIBED)
    assert isinstance(result, MemberOutcome)
    assert (result.kind, result.email_address) == (RejectionKind.NOT_FOUND, None)


def test_get_member_is_none_on_404_and_a_record_otherwise(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(
        f"{BASE}/lists/{LIST}/members/{md5('gone@example.no')}",
        status=404,
        json=problem(404, "Resource Not Found", ""),
    )
    rsps.get(
        f"{BASE}/lists/{LIST}/members/{md5(ANN)}",
        json=member_json(ANN, "unsubscribed", unsubscribe_reason="N/A"),
    )
    assert gateway.get_member(LIST, md5("gone@example.no")) is None
    found = gateway.get_member(LIST, md5(ANN))
    assert found is not None
    assert found.status is MemberStatus.UNSUBSCRIBED
    assert found.last_changed == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_archive_and_permanent_delete_paths_and_idempotence(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.delete(f"{BASE}/lists/{LIST}/members/{md5(ANN)}", status=204)
    rsps.post(f"{BASE}/lists/{LIST}/members/{md5(ANN)}/actions/delete-permanent", status=204)
    rsps.post(f"{BASE}/lists/{LIST}/members/{md5('x@y.no')}/actions/delete-permanent", status=404, body="")
    assert gateway.archive_member(LIST, md5(ANN)) is True
    assert gateway.delete_member_permanent(LIST, md5(ANN)) is True
    assert gateway.delete_member_permanent(LIST, md5("x@y.no")) is False


def test_update_member_tags_sends_active_and_inactive_with_is_syncing(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.post(f"{BASE}/lists/{LIST}/members/{md5(ANN)}/tags", status=204)
    assert (
        gateway.update_member_tags(LIST, md5(ANN), active=["cs:offers"], inactive=["cs:newsletter"]) is None
    )
    assert gateway.update_member_tags(LIST, md5(ANN)) is None
    assert len(rsps.calls) == 1
    assert body_of(rsps.calls[0]) == {
        "tags": [{"name": "cs:offers", "status": "active"}, {"name": "cs:newsletter", "status": "inactive"}],
        "is_syncing": True,
    }


def test_member_tags_reads_every_page(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    url = f"{BASE}/lists/{LIST}/members/{md5(ANN)}/tags"
    tags = [{"id": i, "name": f"t{i}", "date_added": "2026-01-01T00:00:00+00:00"} for i in range(1500)]
    rsps.get(
        url,
        json={"tags": tags[:1000], "total_items": 1500},
        match=[matchers.query_param_matcher({"count": "1000", "offset": "0"})],
    )
    rsps.get(
        url,
        json={"tags": tags[1000:], "total_items": 1500},
        match=[matchers.query_param_matcher({"count": "1000", "offset": "1000"})],
    )
    assert gateway.member_tags(LIST, md5(ANN)) == frozenset(f"t{i}" for i in range(1500))


def test_iter_members_pages_with_since_last_changed_status_and_fields(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    everyone = [member_json(f"p{i}@example.no") for i in range(5)]
    url = f"{BASE}/lists/{LIST}/members"
    for offset in (0, 2, 4):
        page = {"members": everyone[offset : offset + 2], "total_items": 5}
        at_offset = matchers.query_param_matcher({"offset": str(offset)}, strict_match=False)
        rsps.get(url, json=page, match=[at_offset])
    since = datetime(2026, 11, 1, tzinfo=UTC)

    found = list(
        gateway.iter_members(LIST, since_last_changed=since, status=MemberStatus.SUBSCRIBED, page_size=2)
    )

    assert [m.email_address for m in found] == [f"p{i}@example.no" for i in range(5)]
    assert len(rsps.calls) == 3
    query = query_of(rsps.calls[0])
    assert query["since_last_changed"] == ["2026-11-01T00:00:00+00:00"]
    assert query["status"] == ["subscribed"]
    assert query["count"] == ["2"]
    assert query["sort_field"] == ["last_changed"]
    assert query["sort_dir"] == ["ASC"]
    assert "members.email_address" in query["fields"][0].split(",")
    assert "total_items" in query["fields"][0].split(",")


def test_iter_members_stops_on_an_empty_collection(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(f"{BASE}/lists/{LIST}/members", json={"members": [], "total_items": 0})
    assert list(gateway.iter_members(LIST, fields=None)) == []
    assert "fields" not in query_of(rsps.calls[0])


def test_unexpected_member_shape_is_fatal(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    rsps.get(f"{BASE}/lists/{LIST}/members", json={"members": "nope"})
    with pytest.raises(FatalMailchimpError):
        list(gateway.iter_members(LIST))
