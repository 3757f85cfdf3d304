"""Retries: what is retried (and how often), what is not, Retry-After, the retry log, the counters."""

import json
import time

import pytest
import requests
import responses
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from connector.errors import FatalMailchimpError, RetryableMailchimpError
from connector.mailchimp import ConnectionCap, MailchimpGateway, MemberStatus
from connector.mailchimp.metrics import GatewayTotalsCollector
from connector.mailchimp.stats import process_totals

from .conftest import BASE, fast_settings, md5

LIST = "a1b2c3d4e5"
ANN = "ann@example.no"
MEMBER_URL = f"{BASE}/lists/{LIST}/members/{md5(ANN)}"
MEMBER_ENDPOINT = "GET /lists/{list_id}/members/{subscriber_hash}"
MEMBER = {"id": md5(ANN), "email_address": ANN, "status": "subscribed"}

PROBLEM_429 = {"title": "Too Many Requests", "status": 429, "detail": "You have exceeded the limit of 10 "
               "simultaneous connections."}  # fmt: skip

FAILURES: dict[str, dict[str, object]] = {
    "429 with problem+json": {"status": 429, "json": PROBLEM_429},
    "429 without body": {"status": 429, "body": ""},
    "403 without body": {"status": 403, "body": ""},
    "500": {"status": 500, "json": {"title": "InternalServerError", "status": 500}},
    "502 html from the CDN": {"status": 502, "body": "<html>Bad Gateway</html>", "content_type": "text/html"},
    "503 without body": {"status": 503, "body": ""},
    "connection error": {"body": requests.ConnectionError("connection reset by peer")},
    "read timeout": {"body": requests.ReadTimeout("read timed out")},
    "connect timeout": {"body": requests.ConnectTimeout("connect timed out")},
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_transient_failures_are_retried_then_succeed(
    rsps: responses.RequestsMock, gateway: MailchimpGateway, failure: dict[str, object]
) -> None:
    rsps.get(MEMBER_URL, **failure)
    rsps.get(MEMBER_URL, json=MEMBER)

    found = gateway.get_member(LIST, md5(ANN))

    assert found is not None
    assert found.status is MemberStatus.SUBSCRIBED
    assert len(rsps.calls) == 2
    stats = gateway.stats.snapshot()
    assert stats.calls == {MEMBER_ENDPOINT: 2}
    assert stats.retries == {MEMBER_ENDPOINT: 1}
    assert stats.failures == {}


def test_throttles_are_counted_for_429_and_bodyless_403(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(MEMBER_URL, status=429, body="")
    rsps.get(MEMBER_URL, status=403, body="")
    rsps.get(MEMBER_URL, status=503, body="")
    rsps.get(MEMBER_URL, json=MEMBER)
    gateway.get_member(LIST, md5(ANN))
    stats = gateway.stats.snapshot()
    assert (stats.total_calls, stats.total_retries, stats.total_throttles) == (4, 3, 2)


def test_every_gateway_adds_to_the_process_totals_that_metrics_expose(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    before = process_totals().snapshot()
    rsps.get(MEMBER_URL, status=429, body="")
    rsps.get(MEMBER_URL, json=MEMBER)
    gateway.get_member(LIST, md5(ANN))
    gateway.stats.reset()  # a run's own counters; the process's totals are never reset
    after = process_totals().snapshot()
    assert after.calls[MEMBER_ENDPOINT] - before.calls.get(MEMBER_ENDPOINT, 0) == 2
    assert after.throttles[MEMBER_ENDPOINT] - before.throttles.get(MEMBER_ENDPOINT, 0) == 1
    registry = CollectorRegistry()
    registry.register(GatewayTotalsCollector())
    labels = {"endpoint": MEMBER_ENDPOINT}
    assert (
        registry.get_sample_value("consent_sync_mailchimp_calls_total", labels)
        == after.calls[MEMBER_ENDPOINT]
    )
    throttles = registry.get_sample_value("consent_sync_mailchimp_throttles_total", labels)
    assert throttles == after.throttles[MEMBER_ENDPOINT]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"title": "Bad Request", "status": 400, "detail": "x"}),
        (401, {"title": "API Key Invalid", "status": 401, "detail": "Your API key may be invalid."}),
        (403, {"title": "User Disabled", "status": 403, "detail": "This account has been disabled."}),
        (
            404,
            {"title": "Resource Not Found", "status": 404, "detail": "The requested resource was not found."},
        ),
        (
            405,
            {"title": "Method Not Allowed", "status": 405, "detail": "This list member cannot be removed."},
        ),
    ],
)
def test_other_client_errors_are_fatal_and_not_retried(
    rsps: responses.RequestsMock, gateway: MailchimpGateway, status: int, body: dict[str, object]
) -> None:
    rsps.get(f"{BASE}/lists/{LIST}", status=status, json=body, content_type="application/problem+json")
    with pytest.raises(FatalMailchimpError) as caught:
        gateway.get_list(LIST)
    assert len(rsps.calls) == 1
    assert (caught.value.status, caught.value.title) == (status, body["title"])
    assert str(body["detail"]) in str(caught.value)
    assert "GET /lists/{list_id}" in str(caught.value)
    assert gateway.stats.snapshot().failures == {"GET /lists/{list_id}": 1}


def test_problem_text_in_fatal_errors_never_carries_an_address(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    detail = f"{ANN} looks fake or invalid, please enter a real email address."
    rsps.post(
        f"{BASE}/lists/{LIST}/segments", status=400, json={"title": "Invalid Resource", "detail": detail}
    )
    with pytest.raises(FatalMailchimpError) as caught:
        gateway.create_static_segment(LIST, "cs:x", [ANN])
    assert ANN not in str(caught.value)
    assert "<email> looks fake or invalid" in str(caught.value)


def test_retries_stop_at_max_attempts_with_a_retryable_error(rsps: responses.RequestsMock) -> None:
    gateway = MailchimpGateway(fast_settings(max_attempts=3), cap=ConnectionCap(2))
    rsps.get(MEMBER_URL, status=503, body="")
    with pytest.raises(RetryableMailchimpError) as caught:
        gateway.get_member(LIST, md5(ANN))
    assert caught.value.status == 503
    assert len(rsps.calls) == 3
    snapshot = gateway.stats.snapshot()
    assert (snapshot.total_calls, snapshot.total_retries, snapshot.failures) == (3, 2, {MEMBER_ENDPOINT: 1})


def test_connection_errors_that_persist_surface_as_retryable(rsps: responses.RequestsMock) -> None:
    gateway = MailchimpGateway(fast_settings(max_attempts=2), cap=ConnectionCap(2))
    rsps.get(f"{BASE}/ping", body=requests.ConnectionError("refused"))
    with pytest.raises(RetryableMailchimpError, match="ConnectionError") as caught:
        gateway.ping()
    assert caught.value.status is None
    assert len(rsps.calls) == 2


def test_retry_after_is_honoured(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    rsps.get(MEMBER_URL, status=429, body="", headers={"Retry-After": "0.3"})
    rsps.get(MEMBER_URL, json=MEMBER)
    started = time.monotonic()
    with capture_logs() as logs:
        gateway.get_member(LIST, md5(ANN))
    waited = [entry["wait_seconds"] for entry in logs if entry["event"] == "mailchimp.retry"]
    assert waited == [0.3]  # the back-off chosen is Retry-After's, not the 1-10 ms configured
    assert time.monotonic() - started >= 0.3  # and it was slept (a lower bound: no machine is too slow)


def test_each_retry_is_logged_with_the_endpoint_template_and_no_identifiers(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.get(MEMBER_URL, status=429, json=PROBLEM_429)
    rsps.get(MEMBER_URL, body=requests.ReadTimeout("read timed out"))
    rsps.get(MEMBER_URL, json=MEMBER)
    with capture_logs() as logs:
        gateway.get_member(LIST, md5(ANN))
    retries = [entry for entry in logs if entry["event"] == "mailchimp.retry"]
    assert [(r["endpoint"], r["status"], r["attempt"]) for r in retries] == [
        (MEMBER_ENDPOINT, 429, 1),
        (MEMBER_ENDPOINT, None, 2),
    ]
    assert retries[0]["reason"] == "throttled"
    assert retries[1]["reason"] == "ReadTimeout"
    logged = json.dumps(logs, default=str)
    assert ANN not in logged
    assert md5(ANN) not in logged
    assert LIST not in logged


def test_post_bodies_are_resent_unchanged_on_retry(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    rsps.post(f"{BASE}/lists/{LIST}/segments/42", status=500, body="")
    rsps.post(
        f"{BASE}/lists/{LIST}/segments/42", json={"members_added": [], "members_removed": [], "errors": []}
    )
    gateway.bulk_segment(LIST, 42, add=[ANN])
    assert rsps.calls[0].request.body == rsps.calls[1].request.body
