"""The pure error classification: (status, headers, body) → retry, stop, or a per-member outcome."""

import json
from datetime import UTC, datetime

import pytest
import requests

from connector.mailchimp.classify import (
    Verdict,
    classify_response,
    classify_transport_error,
    parse_problem,
    redact,
    rejection_kind,
    retry_after_seconds,
)
from connector.mailchimp.payloads import RejectionKind

PROBLEM = json.dumps(
    {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": "Member In Compliance State",
        "status": 400,
        "detail": "ann@example.no is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed.",
        "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
    }
)


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, "{}", Verdict.OK),
        (204, "", Verdict.OK),
        (429, "", Verdict.RETRYABLE),
        (429, '{"title": "Too Many Requests", "status": 429}', Verdict.RETRYABLE),
        (403, "", Verdict.RETRYABLE),
        (403, "   ", Verdict.RETRYABLE),
        (403, '{"title": "Forbidden", "status": 403}', Verdict.FATAL),
        (403, "<html>Request Blocked</html>", Verdict.FATAL),
        (408, "", Verdict.RETRYABLE),
        (500, '{"title": "InternalServerError"}', Verdict.RETRYABLE),
        (502, "<html>timeout</html>", Verdict.RETRYABLE),
        (503, "", Verdict.RETRYABLE),
        (400, PROBLEM, Verdict.FATAL),
        (401, '{"title": "API Key Invalid"}', Verdict.FATAL),
        (404, '{"title": "Resource Not Found"}', Verdict.FATAL),
        (405, "", Verdict.FATAL),
        (422, "", Verdict.FATAL),
    ],
)
def test_status_and_body_decide_the_reaction(status: int, body: str, verdict: Verdict) -> None:
    assert classify_response(status, {}, body).verdict is verdict


def test_throttling_is_flagged_for_429_and_bodyless_403_only() -> None:
    assert classify_response(429, {}, "").throttled
    assert classify_response(403, {}, "").throttled
    assert not classify_response(503, {}, "").throttled


def test_retry_after_is_carried_in_seconds_or_as_a_date() -> None:
    assert classify_response(429, {"Retry-After": "7"}, "").retry_after == 7.0
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "Mon, 23 Nov 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_problem_json_string_is_parsed_with_addresses_redacted() -> None:
    problem = parse_problem(PROBLEM)
    assert problem.title == "Member In Compliance State"
    assert problem.status == 400
    assert problem.instance == "995c5cb0-3280-4a6e-808b-3b096d0bb219"
    assert problem.detail is not None
    assert "ann@example.no" not in problem.detail
    assert problem.detail.startswith("<email> is in a compliance state")


def test_problem_field_errors_are_kept() -> None:
    body = json.dumps(
        {
            "title": "Invalid Resource",
            "status": 400,
            "detail": "Your merge fields were invalid.",
            "errors": [{"field": "merge_fields.FNAME", "message": "Data did not match any of the schemas."}],
        }
    )
    assert parse_problem(body).field_errors == (
        ("merge_fields.FNAME", "Data did not match any of the schemas."),
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [("", "empty body"), ("<html>Bad Gateway</html>", "non-JSON body"), ("[1]", "non-JSON body")],
)
def test_bodies_that_are_not_problems_are_described_not_echoed(body: str, detail: str) -> None:
    problem = parse_problem(body, 502)
    assert (problem.status, problem.title, problem.detail) == (502, None, detail)


K = RejectionKind


@pytest.mark.parametrize(
    ("title", "detail", "code", "field", "kind"),
    [
        ("Member In Compliance State", "x is in a compliance state", None, None, K.COMPLIANCE_STATE),
        (None, "a@b.no is in a compliance state", "ERROR_GENERIC", None, K.COMPLIANCE_STATE),
        ("Forgotten Email Not Subscribed", "was permanently deleted", None, None, K.FORGOTTEN),
        (None, "a@b.no was permanently deleted and cannot be re-imported.", None, None, K.FORGOTTEN),
        ("Invalid Resource", "a@example.com looks fake or invalid, please enter a real address.", None, None,
         K.INVALID_ADDRESS),
        ("Invalid Resource", "a@b.no has signed up to a lot of lists very recently", None, None,
         K.SIGNUP_THROTTLED),
        ("Invalid Resource", "Your merge fields were invalid.", None, None, K.INVALID_MERGE_FIELDS),
        (None, "Data did not match", "ERROR_GENERIC", "merge_fields.BDAY", K.INVALID_MERGE_FIELDS),
        (None, "a@b.no is already a list member.", "ERROR_CONTACT_EXISTS", None, K.MEMBER_EXISTS),
        ("Member Exists", "a@b.no is already a list member", None, None, K.MEMBER_EXISTS),
        ("Invalid Resource", "The resource could not be validated.", None, None, K.INVALID_RESOURCE),
        ("Resource Not Found", "The requested resource could not be found.", None, None, K.NOT_FOUND),
        (None, "Something odd", "ERROR_GENERIC", None, K.OTHER),
    ],
)  # fmt: skip
def test_member_rejections_are_named(
    title: str | None, detail: str, code: str | None, field: str | None, kind: RejectionKind
) -> None:
    assert rejection_kind(title, detail, code, field) is kind


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (requests.ConnectTimeout("connect"), Verdict.RETRYABLE),
        (requests.ReadTimeout("read"), Verdict.RETRYABLE),
        (requests.ConnectionError("reset"), Verdict.RETRYABLE),
        (requests.exceptions.ChunkedEncodingError("cut"), Verdict.RETRYABLE),
        (requests.exceptions.InvalidURL("bad"), Verdict.FATAL),
        (requests.TooManyRedirects("loop"), Verdict.FATAL),
    ],
)
def test_transport_errors(error: requests.RequestException, verdict: Verdict) -> None:
    assert classify_transport_error(error).verdict is verdict


def test_redact_replaces_every_address() -> None:
    text = "ann.o'hara+x@example.no and bob@sub.example.com. were refused; '<c@d.io>'"
    assert "@" not in redact(text)
    assert redact("no address here") == "no address here"
