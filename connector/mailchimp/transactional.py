"""``TransactionalGateway``: Mailchimp Transactional (Mandrill) API 1.x, the notice route that does not
look at audience status (API-NOTES §10).

Same transport as the Marketing gateway (pooled session, connection cap, timeouts, tenacity retries with
full-jitter backoff, counters), with Transactional's conventions: every call is a ``POST`` of JSON whose
``key`` field carries the API key, and errors are classified by their ``name``
(:mod:`connector.mailchimp.transactional_errors`). Logs carry endpoint names, never addresses.

One ``messages/send`` (or ``send-template``) call carries many recipients: always
``preserve_recipients: false`` (each recipient sees only their own address), per-recipient ``merge_vars``
and ``recipient_metadata``, tracking off, ``merge_language: mailchimp``. Every per-recipient answer comes
back as a :class:`DeliveryOutcome`; a recipient Transactional did not answer for is ``invalid`` with
reason ``unanswered`` (never silently dropped).
"""

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import cast, get_args

import requests

from connector.errors import FatalMailchimpError
from connector.mailchimp.connections import ConnectionCap
from connector.mailchimp.stats import GatewayStats, process_totals
from connector.mailchimp.transactional_errors import classify_transactional
from connector.mailchimp.transactional_payloads import (
    DeliveryOutcome,
    DeliveryStatus,
    NoticeMessage,
    NoticeRecipient,
    SmsOutcome,
)
from connector.mailchimp.transport import Endpoint, RetryPolicy, Transport

DEFAULT_BASE_URL = "https://mandrillapp.com/api/1.0"
MAX_RECIPIENTS_PER_CALL = 1000
"""Recipients one ``messages/send`` call carries. Transactional sets no recipient limit for the API,
only that the JSON of one call stays under 10 MB, and "strongly recommend[s] smaller recipient batches";
1,000 is its limit per SMTP message (Mandrill KB "Can I send to more than one recipient at a time?").
1,000 recipients with merge vars and metadata stay far below 10 MB."""
_STATUSES = frozenset(get_args(DeliveryStatus))

PING = Endpoint("POST", "/users/ping.json")
SEND = Endpoint("POST", "/messages/send.json")
SEND_TEMPLATE = Endpoint("POST", "/messages/send-template.json")
INFO = Endpoint("POST", "/messages/info.json")
REJECTS_ADD = Endpoint("POST", "/rejects/add.json")
REJECTS_LIST = Endpoint("POST", "/rejects/list.json")
REJECTS_DELETE = Endpoint("POST", "/rejects/delete.json")
WEBHOOKS_ADD = Endpoint("POST", "/webhooks/add.json")
WEBHOOKS_LIST = Endpoint("POST", "/webhooks/list.json")
SENDING_DOMAINS = Endpoint("POST", "/senders/domains.json")
SEND_SMS = Endpoint("POST", "/messages/send-sms.json")
REJECTS_ADD_SMS = Endpoint("POST", "/rejects/add-sms.json")
REJECTS_LIST_SMS = Endpoint("POST", "/rejects/list-sms.json")
REJECTS_DELETE_SMS = Endpoint("POST", "/rejects/delete-sms.json")
MAX_SMS_RECIPIENTS_PER_CALL = 10
"""Numbers per ``messages/send-sms`` call: above 10 Transactional always sends asynchronously and answers
``queued`` for every number, so a rejection would only show in a webhook (its swagger, ``async``)."""
SMS_CONSENT = "onetime"
"""``message.sms.consent``: a notice is a one-time service message, not a recurring programme."""


class TransactionalGateway:
    """Typed Transactional calls; thread-safe, build one per process and share it."""

    max_recipients_per_call: int = MAX_RECIPIENTS_PER_CALL

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_seconds: float = 30,
        max_attempts: int = 5,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 30,
        max_connections: int = 4,
        cap: ConnectionCap | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key.strip():
            raise FatalMailchimpError("transactional.api_key: empty")
        self._key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.cap = cap if cap is not None else ConnectionCap(max_connections)
        self.stats = GatewayStats(totals=process_totals())
        self._transport = Transport(
            base_url=self.base_url,
            api_key=self._key,
            timeout_seconds=timeout_seconds,
            retry=RetryPolicy(max_attempts, backoff_initial_seconds, backoff_max_seconds),
            cap=self.cap,
            stats=self.stats,
            session=session,
            classify=classify_transactional,
            basic_auth=False,
        )

    def __repr__(self) -> str:
        return f"TransactionalGateway(base_url={self.base_url!r})"

    def _call(self, endpoint: Endpoint, body: Mapping[str, object] | None = None) -> object:
        return self._transport.call(endpoint, body={"key": self._key, **(body or {})}).data

    def ping(self) -> str:
        """``users/ping``: ``"PONG!"``; an invalid key raises ``FatalMailchimpError`` (``Invalid_Key``)."""
        return str(self._call(PING))

    def send(self, message: NoticeMessage) -> list[DeliveryOutcome]:
        """One call (``send-template`` when the message names a template) for all its recipients."""
        if len(message.recipients) > self.max_recipients_per_call:
            raise ValueError(
                f"{len(message.recipients)} recipients in one call; at most {self.max_recipients_per_call}"
            )
        if not message.recipients:
            return []
        body: dict[str, object] = {"message": message_body(message), "async": False}
        if message.template_name is not None:
            body |= {"template_name": message.template_name, "template_content": []}
            data = self._call(SEND_TEMPLATE, body)
        else:
            data = self._call(SEND, body)
        return delivery_outcomes(message.recipients, data)

    def send_sms(self, text: str, numbers: Sequence[str], from_number: str) -> list[SmsOutcome]:
        """One ``messages/send-sms`` call: the same ``text`` to every number (E.164), synchronously."""
        if len(numbers) > MAX_SMS_RECIPIENTS_PER_CALL:
            raise ValueError(f"{len(numbers)} numbers in one call; at most {MAX_SMS_RECIPIENTS_PER_CALL}")
        if not numbers:
            return []
        sms = {"text": text, "to": list(numbers), "from": from_number, "consent": SMS_CONSENT}
        data = self._call(SEND_SMS, {"message": {"sms": sms}, "async": False})
        return sms_outcomes(numbers, data)

    def list_sms_rejects(self, phone: str | None = None) -> list[dict[str, object]]:
        body: dict[str, object] = {"include_expired": False}
        if phone is not None:
            body["phone"] = phone
        return _documents(self._call(REJECTS_LIST_SMS, body))

    def add_sms_reject(self, phone: str, comment: str = "") -> None:
        self._call(REJECTS_ADD_SMS, {"phone": phone, "comment": comment})

    def delete_sms_reject(self, phone: str) -> None:
        self._call(REJECTS_DELETE_SMS, {"phone": phone})

    def message_info(self, message_id: str) -> dict[str, object]:
        return _document(self._call(INFO, {"id": message_id}))

    def list_rejects(self, email: str | None = None) -> list[dict[str, object]]:
        body: dict[str, object] = {"include_expired": False}
        if email is not None:
            body["email"] = email
        return _documents(self._call(REJECTS_LIST, body))

    def add_reject(self, email: str, comment: str = "") -> None:
        self._call(REJECTS_ADD, {"email": email, "comment": comment})

    def delete_reject(self, email: str) -> None:
        self._call(REJECTS_DELETE, {"email": email})

    def add_webhook(self, url: str, events: Sequence[str], description: str = "") -> dict[str, object]:
        """Register ``url``; the answer's ``auth_key`` verifies ``X-Mandrill-Signature``."""
        return _document(
            self._call(WEBHOOKS_ADD, {"url": url, "events": list(events), "description": description})
        )

    def list_webhooks(self) -> list[dict[str, object]]:
        return _documents(self._call(WEBHOOKS_LIST))

    def sending_domains(self) -> list[dict[str, object]]:
        """``senders/domains``: each domain with its SPF/DKIM checks and ``valid_signing``."""
        return _documents(self._call(SENDING_DOMAINS))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "TransactionalGateway":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def message_body(message: NoticeMessage) -> dict[str, object]:
    """The ``message`` object of ``messages/send``: one ``to`` entry per recipient, never exposed."""
    body: dict[str, object] = {
        "from_email": message.from_email,
        "to": [_to(r) for r in message.recipients],
        "preserve_recipients": False,
        "track_opens": False,
        "track_clicks": False,
        "merge": True,
        "merge_language": "mailchimp",
        "global_merge_vars": _vars(message.global_merge_vars),
        "merge_vars": [
            {"rcpt": r.email, "vars": _vars(r.merge_vars)} for r in message.recipients if r.merge_vars
        ],
        "metadata": dict(message.metadata),
        "recipient_metadata": [
            {"rcpt": r.email, "values": dict(r.metadata)} for r in message.recipients if r.metadata
        ],
        "tags": list(message.tags),
    }
    for name, value in (
        ("from_name", message.from_name),
        ("subject", message.subject),
        ("text", message.text),
        ("html", message.html),
    ):
        if value is not None:
            body[name] = value
    return body


def delivery_outcomes(recipients: Sequence[NoticeRecipient], data: object) -> list[DeliveryOutcome]:
    """One outcome per recipient, in their order; recipients the answer omits are ``unanswered``."""
    answers: dict[str, DeliveryOutcome] = {}
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            continue
        status = item.get("status")
        reason = item.get("reject_reason")
        answers[item["email"].strip().lower()] = DeliveryOutcome(
            email=item["email"],
            status=cast(DeliveryStatus, status) if status in _STATUSES else "invalid",
            reject_reason=str(reason) if reason else (None if status in _STATUSES else "unknown-status"),
            message_id=str(item["_id"]) if item.get("_id") else None,
        )
    return [
        answers.get(r.email.strip().lower()) or DeliveryOutcome(r.email, "invalid", "unanswered", None)
        for r in recipients
    ]


def sms_outcomes(numbers: Sequence[str], data: object) -> list[SmsOutcome]:
    """One outcome per number, in their order; numbers the answer omits are ``invalid``/``unanswered``."""
    answers: dict[str, SmsOutcome] = {}
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("to"), str):
            continue
        status = item.get("status")
        reason = item.get("reject_reason")
        known = status in _STATUSES
        answers[item["to"].strip()] = SmsOutcome(
            phone=item["to"].strip(),
            status=str(status) if known else "invalid",
            reject_reason=str(reason) if reason else (None if known else "unknown-status"),
            message_id=str(item["_id"]) if item.get("_id") else None,
        )
    return [answers.get(n.strip()) or SmsOutcome(n, "invalid", "unanswered", None) for n in numbers]


def _to(recipient: NoticeRecipient) -> dict[str, str]:
    entry = {"email": recipient.email, "type": "to"}
    if recipient.name:
        entry["name"] = recipient.name
    return entry


def _vars(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "content": content} for name, content in values.items()]


def _document(data: object) -> dict[str, object]:
    if not isinstance(data, dict):
        raise FatalMailchimpError(f"Transactional answered {type(data).__name__}, not an object")
    return cast(dict[str, object], data)


def _documents(data: object) -> list[dict[str, object]]:
    if not isinstance(data, list):
        raise FatalMailchimpError(f"Transactional answered {type(data).__name__}, not a list")
    return [cast(dict[str, object], item) for item in data if isinstance(item, dict)]
