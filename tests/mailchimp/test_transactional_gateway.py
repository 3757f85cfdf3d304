"""``TransactionalGateway`` request shapes and error classification, against mocked HTTP (``responses``).

Transactional answers errors with HTTP 500 and ``{"status": "error", "code", "name", "message"}``; the
name decides (connector/mailchimp/transactional_errors.py cites the sources): ``Invalid_Key``,
``ValidationError`` and ``Unknown_*`` are fatal, ``GeneralError``, 429, 5xx without such a document and
timeouts are retried.
"""

import json
from collections.abc import Iterator

import pytest
import requests
import responses

from connector.errors import FatalMailchimpError, RetryableMailchimpError
from connector.mailchimp.classify import Verdict
from connector.mailchimp.transactional import MAX_RECIPIENTS_PER_CALL, TransactionalGateway
from connector.mailchimp.transactional_errors import classify_transactional
from connector.mailchimp.transactional_payloads import NoticeMessage, NoticeRecipient

BASE = "https://mandrillapp.com/api/1.0"
KEY = "md-test-key"


@pytest.fixture
def gateway() -> Iterator[TransactionalGateway]:
    with TransactionalGateway(
        KEY, BASE, max_attempts=3, backoff_initial_seconds=0.001, backoff_max_seconds=0.01
    ) as built:
        yield built


def _error(name: str, code: int = -1) -> dict[str, object]:
    return {"status": "error", "code": code, "name": name, "message": f"{name} for kari@example.no"}


def _message(*emails: str, template: str | None = None) -> NoticeMessage:
    return NoticeMessage(
        subject=None if template else "Cancelled: *|ITEM|*",
        from_email="tickets@example.no",
        from_name="Tickets",
        text=None if template else "Dear *|FNAME|*",
        template_name=template,
        global_merge_vars={"ITEM": "Concert 99"},
        metadata={"notice_id": "c99-off", "kind": "cancellation"},
        tags=("notice:cancellation",),
        recipients=tuple(
            NoticeRecipient(e, None, {"FNAME": e[0].upper()}, {"contact_id": f"c-{i}"})
            for i, e in enumerate(emails)
        ),
    )


def test_send_carries_every_recipient_privately_with_their_merge_vars(
    rsps: responses.RequestsMock, gateway: TransactionalGateway
) -> None:
    rsps.post(
        f"{BASE}/messages/send.json",
        json=[
            {"email": "kari@example.no", "status": "sent", "_id": "m1", "reject_reason": None},
            {"email": "ola@example.no", "status": "rejected", "reject_reason": "unsub", "_id": "m2"},
        ],
    )
    outcomes = gateway.send(_message("kari@example.no", "ola@example.no", "per@example.no"))

    body = json.loads(rsps.calls[0].request.body or b"")
    assert body["key"] == KEY
    message = body["message"]
    assert [r["email"] for r in message["to"]] == ["kari@example.no", "ola@example.no", "per@example.no"]
    assert {r["type"] for r in message["to"]} == {"to"}
    assert message["preserve_recipients"] is False
    assert (message["track_opens"], message["track_clicks"]) == (False, False)
    assert message["merge_language"] == "mailchimp"
    assert message["global_merge_vars"] == [{"name": "ITEM", "content": "Concert 99"}]
    assert message["merge_vars"][0] == {
        "rcpt": "kari@example.no",
        "vars": [{"name": "FNAME", "content": "K"}],
    }
    assert message["metadata"] == {"notice_id": "c99-off", "kind": "cancellation"}
    assert message["recipient_metadata"][1] == {"rcpt": "ola@example.no", "values": {"contact_id": "c-1"}}
    assert [(o.email, o.status, o.reject_reason, o.message_id) for o in outcomes] == [
        ("kari@example.no", "sent", None, "m1"),
        ("ola@example.no", "rejected", "unsub", "m2"),
        ("per@example.no", "invalid", "unanswered", None),
    ]


def test_a_template_goes_to_send_template(
    rsps: responses.RequestsMock, gateway: TransactionalGateway
) -> None:
    rsps.post(
        f"{BASE}/messages/send-template.json",
        json=[{"email": "kari@example.no", "status": "queued", "_id": "m"}],
    )
    (outcome,) = gateway.send(_message("kari@example.no", template="cancellation"))
    body = json.loads(rsps.calls[0].request.body or b"")
    assert body["template_name"] == "cancellation"
    assert body["template_content"] == []
    assert "subject" not in body["message"]
    assert outcome.status == "queued"


def test_more_recipients_than_one_call_carries_is_refused(gateway: TransactionalGateway) -> None:
    assert gateway.max_recipients_per_call == MAX_RECIPIENTS_PER_CALL == 1000
    too_many = _message(*(f"p{i}@example.no" for i in range(1001)))
    with pytest.raises(ValueError, match="at most 1000"):
        gateway.send(too_many)


@pytest.mark.parametrize(
    "name", ["Invalid_Key", "ValidationError", "Unknown_Template", "Unknown_Message", "PaymentRequired"]
)
def test_named_errors_are_fatal_and_not_retried(
    rsps: responses.RequestsMock, gateway: TransactionalGateway, name: str
) -> None:
    rsps.post(f"{BASE}/users/ping.json", status=500, json=_error(name))
    with pytest.raises(FatalMailchimpError) as raised:
        gateway.ping()
    assert raised.value.title == name
    assert "kari@example.no" not in str(raised.value)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, _error("GeneralError")),
        (500, _error("ServiceUnavailable")),
        (429, None),
        (502, None),
        (500, None),
    ],
)
def test_transient_answers_are_retried(
    rsps: responses.RequestsMock, gateway: TransactionalGateway, status: int, body: object
) -> None:
    if body is None:
        rsps.post(f"{BASE}/users/ping.json", status=status, body="<html>busy</html>")
    else:
        rsps.post(f"{BASE}/users/ping.json", status=status, json=body)
    rsps.post(f"{BASE}/users/ping.json", json="PONG!")
    assert gateway.ping() == "PONG!"
    assert len(rsps.calls) == 2


def test_timeouts_are_retried_then_raise_retryable(
    rsps: responses.RequestsMock, gateway: TransactionalGateway
) -> None:
    for _ in range(3):
        rsps.post(f"{BASE}/users/ping.json", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(RetryableMailchimpError):
        gateway.ping()
    assert gateway.stats.snapshot().retries["POST /users/ping.json"] == 2


def test_classification_is_pure() -> None:
    assert classify_transactional(200, {}, "").verdict is Verdict.OK
    assert classify_transactional(500, {}, json.dumps(_error("Invalid_Key"))).verdict is Verdict.FATAL
    assert classify_transactional(500, {}, json.dumps(_error("GeneralError"))).verdict is Verdict.RETRYABLE
    assert classify_transactional(500, {}, "").verdict is Verdict.RETRYABLE
    assert classify_transactional(404, {}, "nothing").verdict is Verdict.FATAL
    throttled = classify_transactional(429, {"Retry-After": "3"}, "")
    assert (throttled.verdict, throttled.retry_after, throttled.throttled) == (Verdict.RETRYABLE, 3.0, True)


def test_rejects_webhooks_and_domains_shapes(
    rsps: responses.RequestsMock, gateway: TransactionalGateway
) -> None:
    rsps.post(f"{BASE}/rejects/add.json", json={"email": "kari@example.no", "added": True})
    rsps.post(f"{BASE}/rejects/list.json", json=[{"email": "kari@example.no", "reason": "custom"}])
    rsps.post(f"{BASE}/rejects/delete.json", json={"email": "kari@example.no", "deleted": True})
    rsps.post(f"{BASE}/webhooks/add.json", json={"id": 1, "auth_key": "secret", "url": "http://h/wh"})
    rsps.post(f"{BASE}/webhooks/list.json", json=[{"id": 1}])
    rsps.post(f"{BASE}/senders/domains.json", json=[{"domain": "example.no", "valid_signing": True}])
    rsps.post(f"{BASE}/messages/info.json", json={"_id": "m1", "state": "sent"})
    gateway.add_reject("kari@example.no", "asked")
    assert gateway.list_rejects("kari@example.no")[0]["reason"] == "custom"
    gateway.delete_reject("kari@example.no")
    assert gateway.add_webhook("http://h/wh", ["hard_bounce", "spam"], "notices")["auth_key"] == "secret"
    assert gateway.list_webhooks() == [{"id": 1}]
    assert gateway.sending_domains()[0]["valid_signing"] is True
    assert gateway.message_info("m1")["state"] == "sent"
    bodies = [json.loads(c.request.body or b"") for c in rsps.calls]
    assert all(b["key"] == KEY for b in bodies)
    assert bodies[0] == {"key": KEY, "email": "kari@example.no", "comment": "asked"}
    assert bodies[3] == {
        "key": KEY,
        "url": "http://h/wh",
        "events": ["hard_bounce", "spam"],
        "description": "notices",
    }
    assert bodies[6] == {"key": KEY, "id": "m1"}
    assert all(c.request.headers.get("Authorization") is None for c in rsps.calls)


def test_send_sms_carries_one_text_to_the_numbers_and_answers_each(
    rsps: responses.RequestsMock, gateway: TransactionalGateway
) -> None:
    rsps.post(
        f"{BASE}/messages/send-sms.json",
        json=[
            {"to": "+4791234567", "from": "+4759440000", "status": "sent", "_id": "s1"},
            {"to": "+4791234568", "from": "+4759440000", "status": "rejected", "reject_reason": "unsub"},
        ],
    )
    numbers = ["+4791234567", "+4791234568", "+4791234569"]
    outcomes = gateway.send_sms("Concert 99 is cancelled.", numbers, "+4759440000")
    body = json.loads(rsps.calls[0].request.body or b"")
    assert body == {
        "key": KEY,
        "message": {
            "sms": {
                "text": "Concert 99 is cancelled.",
                "to": numbers,
                "from": "+4759440000",
                "consent": "onetime",
            }
        },
        "async": False,
    }
    assert [(o.phone, o.status, o.reject_reason, o.message_id) for o in outcomes] == [
        ("+4791234567", "sent", None, "s1"),
        ("+4791234568", "rejected", "unsub", None),
        ("+4791234569", "invalid", "unanswered", None),
    ]
    with pytest.raises(ValueError, match="at most 10"):
        gateway.send_sms("t", [f"+479123{n:04d}" for n in range(11)], "+4759440000")
