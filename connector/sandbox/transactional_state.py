"""The sandbox's Mailchimp Transactional data, and its Customer Journeys: templates, the reject list,
webhooks, sending domains, every message sent (the outbox), journeys and their sends.

In memory only (``--state`` snapshots the Marketing audiences, not this); cleared by ``/_sandbox/reset``.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class TemplateRecord:
    name: str
    slug: str
    code: str
    text: str | None
    subject: str | None
    from_email: str | None
    from_name: str | None
    labels: list[str]
    created_at: datetime
    updated_at: datetime
    published: bool = True


@dataclass
class RejectRecord:
    email: str
    reason: str
    """hard-bounce, soft-bounce, spam, unsub, custom."""
    detail: str
    created_at: datetime
    expires_at: datetime | None
    sender: str | None = None


@dataclass
class TransactionalWebhook:
    id: int
    url: str
    description: str
    auth_key: str
    events: list[str]
    created_at: datetime
    batches_sent: int = 0
    events_sent: int = 0
    last_sent_at: datetime | None = None


@dataclass
class SendingDomain:
    domain: str
    created_at: datetime
    valid_signing: bool = True


@dataclass
class OutboxEntry:
    """One message as Transactional accepted (or rejected) it for one recipient, after merge."""

    id: str
    at: datetime
    email: str
    name: str | None
    from_email: str
    from_name: str | None
    subject: str | None
    text: str | None
    html: str | None
    template: str | None
    metadata: dict[str, str]
    tags: list[str]
    status: str
    reject_reason: str | None
    state: str
    """sent, rejected, bounced, soft-bounced, spam (for ``messages/info``)."""

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "at": self.at.isoformat(),
            "email": self.email,
            "name": self.name,
            "from_email": self.from_email,
            "from_name": self.from_name,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "template": self.template,
            "metadata": self.metadata,
            "tags": self.tags,
            "status": self.status,
            "reject_reason": self.reject_reason,
            "state": self.state,
        }


@dataclass
class SmsEntry:
    """One SMS as Transactional accepted (or rejected) it for one number."""

    id: str
    at: datetime
    to: str
    from_number: str
    text: str
    consent: str
    status: str
    reject_reason: str | None

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "at": self.at.isoformat(),
            "to": self.to,
            "from": self.from_number,
            "text": self.text,
            "consent": self.consent,
            "status": self.status,
            "reject_reason": self.reject_reason,
        }


@dataclass
class SmsRejectRecord:
    phone: str
    reason: str
    """custom (added through ``rejects/add-sms``, never expires) or unsub (a STOP reply)."""
    comment: str
    created_at: datetime
    expires_at: datetime | None


@dataclass
class Journey:
    journey_id: int
    step_id: int
    list_id: str
    name: str


@dataclass(frozen=True, slots=True)
class JourneySend:
    journey_id: int
    step_id: int
    list_id: str
    email: str
    status: str
    at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "journey_id": self.journey_id,
            "step_id": self.step_id,
            "list_id": self.list_id,
            "email": self.email,
            "status": self.status,
            "at": self.at.isoformat(),
        }


@dataclass
class TransactionalData:
    templates: dict[str, TemplateRecord] = field(default_factory=dict)
    rejects: dict[str, RejectRecord] = field(default_factory=dict)
    """By lower-cased address."""
    webhooks: dict[int, TransactionalWebhook] = field(default_factory=dict)
    domains: dict[str, SendingDomain] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)
    messages: dict[str, OutboxEntry] = field(default_factory=dict)
    journeys: dict[int, Journey] = field(default_factory=dict)
    journey_sends: list[JourneySend] = field(default_factory=list)
    sms_outbox: list[SmsEntry] = field(default_factory=list)
    sms_rejects: dict[str, SmsRejectRecord] = field(default_factory=dict)
    """By E.164 number."""
    counter: int = 0


class TransactionalState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.data = TransactionalData()

    def next_number(self) -> int:
        with self.lock:
            self.data.counter += 1
            return self.data.counter

    def reset(self) -> None:
        with self.lock:
            self.data = TransactionalData()
