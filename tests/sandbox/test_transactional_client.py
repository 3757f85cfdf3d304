"""The official ``mailchimp-transactional`` client (1.4.1), unmodified, against the sandbox's
Transactional API: only its ``host`` points at the sandbox. Every answer is also checked against the
vendored ``tests/contracts/specs/transactional-swagger.json`` (the 200 schema of its operation).
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import mailchimp_transactional
import pytest
import requests
from jsonschema import Draft4Validator
from mailchimp_transactional.api_client import ApiClientError

from connector.core.mandrill_signature import mandrill_signature
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

from .conftest import Receiver

KEY = "official-client-key"
SPEC = json.loads(
    (Path(__file__).resolve().parents[1] / "contracts" / "specs" / "transactional-swagger.json").read_text()
)


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(transactional_keys=(KEY,), seed=1)) as handle:
        yield handle


@pytest.fixture
def sandbox(module_sandbox: SandboxHandle) -> SandboxHandle:
    module_sandbox.runtime.reset()
    return module_sandbox


@pytest.fixture
def client(sandbox: SandboxHandle) -> Any:
    built = mailchimp_transactional.Client(KEY)
    built.api_client.host = sandbox.transactional_base_url
    return built


def conforms(path: str, answer: object) -> object:
    """``answer`` if it matches the spec's 200 schema for ``path``, else the test fails naming why."""
    schema = SPEC["paths"][path]["post"]["responses"]["200"]["schema"]
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft4Validator(schema).iter_errors(answer)
    ]
    assert errors == [], f"{path}: {errors}"
    return answer


def outbox(sandbox: SandboxHandle, **query: str) -> list[dict[str, Any]]:
    found = requests.get(f"{sandbox.root_url}/sandbox/transactional/outbox", params=query, timeout=5).json()
    return list(found["messages"])


def test_ping(client: Any) -> None:
    assert conforms("/users/ping", client.users.ping()) == "PONG!"


def test_an_invalid_key_is_refused_as_transactional_does(sandbox: SandboxHandle) -> None:
    other = mailchimp_transactional.Client("revoked")
    other.api_client.host = sandbox.transactional_base_url
    with pytest.raises(ApiClientError) as raised:
        other.users.ping()
    assert raised.value.status_code == 500
    assert raised.value.text["name"] == "Invalid_Key"
    assert raised.value.text["status"] == "error"


def test_send_to_many_recipients_merges_per_recipient(client: Any, sandbox: SandboxHandle) -> None:
    message = {
        "from_email": "tickets@example.no",
        "subject": "Cancelled: *|ITEM|*",
        "text": "Dear *|FNAME|*, *|ITEM|* is cancelled.",
        "to": [{"email": "kari@example.no", "type": "to"}, {"email": "ola@example.no", "type": "to"}],
        "preserve_recipients": False,
        "global_merge_vars": [{"name": "ITEM", "content": "Concert 99"}],
        "merge_vars": [{"rcpt": "kari@example.no", "vars": [{"name": "FNAME", "content": "Kari"}]}],
        "metadata": {"notice_id": "c99-off"},
    }
    answers = conforms("/messages/send", client.messages.send({"message": message}))
    assert [(a["email"], a["status"]) for a in answers] == [
        ("kari@example.no", "sent"),
        ("ola@example.no", "sent"),
    ]
    (kari,) = outbox(sandbox, email="kari@example.no")
    assert (kari["subject"], kari["text"]) == ("Cancelled: Concert 99", "Dear Kari, Concert 99 is cancelled.")
    assert kari["metadata"] == {"notice_id": "c99-off"}
    assert outbox(sandbox, email="ola@example.no")[0]["text"] == "Dear , Concert 99 is cancelled."
    info = conforms("/messages/info", client.messages.info({"id": answers[0]["_id"]}))
    assert (info["state"], info["metadata"]) == ("sent", {"notice_id": "c99-off"})


def test_templates_and_send_template_fill_editable_regions(client: Any, sandbox: SandboxHandle) -> None:
    code = '<h1 mc:edit="header">Notice</h1><div mc:edit="main">placeholder</div><p>Hi *|FNAME|*</p>'
    added = conforms(
        "/templates/add",
        client.templates.add(
            {"name": "Cancellation", "code": code, "subject": "About *|ITEM|*", "from_email": "t@example.no"}
        ),
    )
    assert added["slug"] == "cancellation"
    assert [t["name"] for t in conforms("/templates/list", client.templates.list({}))] == ["Cancellation"]
    assert conforms("/templates/info", client.templates.info({"name": "cancellation"}))["code"] == code
    answers = client.messages.send_template(
        {
            "template_name": "cancellation",
            "template_content": [{"name": "main", "content": "The concert is cancelled."}],
            "message": {
                "to": [{"email": "kari@example.no"}],
                "merge_vars": [{"rcpt": "kari@example.no", "vars": [{"name": "FNAME", "content": "Kari"}]}],
                "global_merge_vars": [{"name": "ITEM", "content": "Concert 99"}],
            },
        }
    )
    conforms("/messages/send-template", answers)
    (sent,) = outbox(sandbox)
    assert sent["subject"] == "About Concert 99"
    assert '<div mc:edit="main">The concert is cancelled.</div>' in sent["html"]
    assert '<h1 mc:edit="header">Notice</h1>' in sent["html"]
    assert "Hi Kari" in sent["html"]
    with pytest.raises(ApiClientError) as raised:
        client.messages.send_template(
            {"template_name": "nope", "template_content": [], "message": {"to": [{"email": "k@example.no"}]}}
        )
    assert raised.value.text["name"] == "Unknown_Template"


def test_rejects_refuse_sends_until_deleted(client: Any, sandbox: SandboxHandle) -> None:
    assert conforms("/rejects/add", client.rejects.add({"email": "kari@example.no", "comment": "asked"}))[
        "added"
    ]
    listed = conforms("/rejects/list", client.rejects.list({"email": "kari@example.no"}))
    assert [(r["email"], r["reason"]) for r in listed] == [("kari@example.no", "custom")]
    message = {
        "from_email": "t@example.no",
        "subject": "s",
        "text": "t",
        "to": [{"email": "kari@example.no"}],
    }
    (answer,) = client.messages.send({"message": message})
    assert (answer["status"], answer["reject_reason"]) == ("rejected", "custom")
    assert conforms("/rejects/delete", client.rejects.delete({"email": "kari@example.no"}))["deleted"] is True
    assert client.messages.send({"message": message})[0]["status"] == "sent"


def test_webhooks_and_a_simulated_bounce_arrive_signed(
    client: Any, sandbox: SandboxHandle, receiver: Receiver
) -> None:
    hook = conforms(
        "/webhooks/add",
        client.webhooks.add(
            {"url": receiver.url, "description": "notices", "events": ["hard_bounce", "reject"]}
        ),
    )
    assert [h["id"] for h in conforms("/webhooks/list", client.webhooks.list({}))] == [hook["id"]]
    message = {
        "from_email": "t@example.no",
        "subject": "s",
        "text": "t",
        "to": [{"email": "kari@example.no"}],
        "metadata": {"notice_id": "n-1"},
    }
    (sent,) = client.messages.send({"message": message})
    bounce = requests.post(
        f"{sandbox.root_url}/sandbox/transactional/bounce",
        json={"email": "kari@example.no", "event": "hard_bounce"},
        timeout=5,
    ).json()
    assert (bounce["webhooks"], bounce["message_id"]) == (1, sent["_id"])
    assert sandbox.wait_for_webhooks()
    (post,) = receiver.posts
    fields = {name: values[0] for name, values in parse_qs(post.body.decode()).items()}
    assert post.headers["X-Mandrill-Signature"] == mandrill_signature(hook["auth_key"], receiver.url, fields)
    (event,) = json.loads(fields["mandrill_events"])
    assert (event["event"], event["msg"]["email"], event["msg"]["metadata"]) == (
        "hard_bounce",
        "kari@example.no",
        {"notice_id": "n-1"},
    )
    (again,) = client.messages.send({"message": message})
    assert (again["status"], again["reject_reason"]) == ("rejected", "hard-bounce")
    assert client.messages.info({"id": sent["_id"]})["state"] == "bounced"
    deadline = time.monotonic() + 5
    while len(receiver.posts) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(parse_qs(receiver.posts[1].body.decode())["mandrill_events"][0])[0]["event"] == "reject"


def test_sending_domains(client: Any, sandbox: SandboxHandle) -> None:
    requests.post(
        f"{sandbox.root_url}/sandbox/transactional/domains",
        json={"domain": "example.no", "valid_signing": False},
        timeout=5,
    )
    (domain,) = conforms("/senders/domains", client.senders.domains({}))
    assert (domain["domain"], domain["valid_signing"]) == ("example.no", False)
    message = {
        "from_email": "t@example.no",
        "subject": "s",
        "text": "t",
        "to": [{"email": "kari@example.no"}],
    }
    assert client.messages.send({"message": message})[0]["reject_reason"] == "unsigned"


def sms_outbox(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    found = requests.get(f"{sandbox.root_url}/sandbox/transactional/sms-outbox", timeout=5).json()
    return list(found["messages"])


def test_send_sms_answers_each_number_and_lands_in_the_sms_outbox(
    client: Any, sandbox: SandboxHandle
) -> None:
    sms = {"text": "Concert 99 is cancelled.", "to": ["+4791234567", "0047"], "from": "+4759440000"}
    answers = conforms(
        "/messages/send-sms", client.messages.send_sms({"message": {"sms": sms | {"consent": "onetime"}}})
    )
    assert [(a["to"], a["status"]) for a in answers] == [("+4791234567", "sent"), ("0047", "invalid")]
    assert [(m["to"], m["text"], m["status"]) for m in sms_outbox(sandbox)] == [
        ("+4791234567", "Concert 99 is cancelled.", "sent"),
        ("0047", "Concert 99 is cancelled.", "invalid"),
    ]
    many = {**sms, "consent": "onetime", "to": [f"+4791230{n:03d}" for n in range(11)]}
    queued = conforms("/messages/send-sms", client.messages.send_sms({"message": {"sms": many}}))
    assert {(a["status"], a["queue_reason"]) for a in queued} == {("queued", "multiple recipients")}
    with pytest.raises(ApiClientError) as raised:
        client.messages.send_sms({"message": {"sms": sms}})  # no consent
    assert raised.value.text["name"] == "ValidationError"


def test_sms_rejects_refuse_sends_until_deleted(client: Any, sandbox: SandboxHandle) -> None:
    added = conforms("/rejects/add-sms", client.rejects.add_sms({"phone": "+4791234567", "comment": "asked"}))
    assert added == {"phone": "+4791234567", "added": True}
    listed = conforms("/rejects/list-sms", client.rejects.list_sms({"phone": "+4791234567"}))
    assert [(r["phone"], r["expired"]) for r in listed] == [("+4791234567", False)]
    sms = {"text": "t", "to": ["+4791234567"], "from": "+4759440000", "consent": "onetime"}
    (answer,) = client.messages.send_sms({"message": {"sms": sms}})
    assert (answer["status"], answer["reject_reason"]) == ("rejected", "custom")
    deleted = conforms("/rejects/delete-sms", client.rejects.delete_sms({"phone": "+4791234567"}))
    assert deleted["deleted"] is True
    assert client.messages.send_sms({"message": {"sms": sms}})[0]["status"] == "sent"
    with pytest.raises(ApiClientError) as raised:
        client.rejects.add_sms({"phone": "91234567"})
    assert raised.value.text["name"] == "Invalid_Reject"
