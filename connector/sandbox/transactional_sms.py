"""Transactional's SMS at ``/api/1.0``: ``messages/send-sms`` and the SMS reject list
(``rejects/add-sms|list-sms|delete-sms``), shaped as the vendored swagger says.

One ``send-sms`` call carries one text to the numbers of ``message.sms.to``; a call of more than 10
numbers (or ``async: true``) is sent asynchronously: every number is answered ``queued`` (its rejection,
if any, shows in the outbox). Numbers are E.164; another shape is answered ``invalid``. A number on the
SMS reject list is answered ``rejected`` with the list's reason. Every number, sent or not, is in the
outbox (``GET /sandbox/transactional/sms-outbox``).
"""

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.transactional_errors import TransactionalError, text_field
from connector.sandbox.transactional_state import SmsEntry, SmsRejectRecord

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SMS_CONSENTS = frozenset({"onetime", "recurring", "recurring-no-confirm"})
SYNC_LIMIT = 10
"""Transactional: "messages with more than 10 recipients are always sent asynchronously"."""


def send_sms(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    message = body.get("message")
    sms = message.get("sms") if isinstance(message, dict) else None
    if not isinstance(sms, dict):
        raise TransactionalError(
            "ValidationError", 'Validation error: {"message":{"sms":"Please enter an array"}}'
        )
    text = _sms_field(sms, "text")
    sender = _sms_field(sms, "from")
    consent = _sms_field(sms, "consent")
    to = sms.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(n, str) for n in to):
        raise TransactionalError(
            "ValidationError", 'Validation error: {"message":{"sms":{"to":"Please enter an array"}}}'
        )
    if consent not in SMS_CONSENTS:
        raise TransactionalError(
            "ValidationError",
            'Validation error: {"message":{"sms":{"consent":"' + ", ".join(sorted(SMS_CONSENTS)) + '"}}}',
        )
    if not E164.match(sender):
        raise TransactionalError(
            "ValidationError", 'Validation error: {"message":{"sms":{"from":"not an E.164 number"}}}'
        )
    queue_reason = None
    if len(to) > SYNC_LIMIT:
        queue_reason = "multiple recipients"
    elif body.get("async") is True:
        queue_reason = "async requested by user"
    state = runtime.transactional
    now = runtime.now()
    answers: list[dict[str, object]] = []
    with state.lock:
        for number in to:
            phone = number.strip()
            status, reason = "sent", None
            reject = state.data.sms_rejects.get(phone)
            if not E164.match(phone):
                status = "invalid"
            elif reject is not None and (reject.expires_at is None or reject.expires_at > now):
                status, reason = "rejected", reject.reason
            entry = SmsEntry(uuid.uuid4().hex, now, phone, sender, text, consent, status, reason)
            state.data.sms_outbox.append(entry)
            answer: dict[str, object] = {"to": phone, "from": sender, "_id": entry.id}
            if queue_reason is not None:
                answer |= {"status": "queued", "queue_reason": queue_reason}
            else:
                answer["status"] = status
                if reason is not None:
                    answer["reject_reason"] = reason
            answers.append(answer)
    return answers


def _sms_field(sms: dict[str, Any], name: str) -> str:
    value = sms.get(name)
    if not isinstance(value, str) or not value:
        raise TransactionalError(
            "ValidationError",
            f'Validation error: {{"message":{{"sms":{{"{name}":"Please enter a value"}}}}}}',
        )
    return value


def _phone(body: dict[str, Any]) -> str:
    phone = (text_field(body, "phone", required=True) or "").strip()
    if not E164.match(phone):
        raise TransactionalError("Invalid_Reject", f'"{phone}" is not a phone number in E.164 format')
    return phone


STOP_LIFETIME = timedelta(days=365)
"""How long a STOP reply keeps a number on the SMS reject list here (as ``unsub`` for e-mail)."""


def stop_reply(runtime: SandboxRuntime, phone: str) -> SmsRejectRecord:
    """The person answered STOP: the number goes on the SMS reject list (``unsub``)."""
    now = runtime.now()
    record = SmsRejectRecord(phone, "unsub", "STOP reply", now, now + STOP_LIFETIME)
    with runtime.transactional.lock:
        runtime.transactional.data.sms_rejects[phone] = record
    return record


def add_sms_reject(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    phone = _phone(body)
    comment = text_field(body, "comment") or "Added manually"
    with runtime.transactional.lock:
        runtime.transactional.data.sms_rejects[phone] = SmsRejectRecord(
            phone, "custom", comment, runtime.now(), None
        )
    return {"phone": phone, "added": True}


def list_sms_rejects(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    phone = (text_field(body, "phone") or "").strip()
    include_expired = body.get("include_expired") is True
    now = runtime.now()
    with runtime.transactional.lock:
        records = [
            r for key, r in runtime.transactional.data.sms_rejects.items() if not phone or key == phone
        ]
    documents: list[dict[str, object]] = []
    for record in records:
        expired = record.expires_at is not None and record.expires_at <= now
        if expired and not include_expired:
            continue
        document: dict[str, object] = {
            "phone": record.phone,
            "created_at": _stamp(record.created_at),
            "expired": expired,
        }
        if record.expires_at is not None:
            document["expires_at"] = _stamp(record.expires_at)
        documents.append(document)
    return documents


def delete_sms_reject(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    phone = _phone(body)
    with runtime.transactional.lock:
        deleted = runtime.transactional.data.sms_rejects.pop(phone, None) is not None
    return {"phone": phone, "deleted": deleted}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


SMS_HANDLERS: dict[tuple[str, str], Callable[[SandboxRuntime, dict[str, Any]], object]] = {
    ("messages", "send-sms"): send_sms,
    ("rejects", "add-sms"): add_sms_reject,
    ("rejects", "list-sms"): list_sms_rejects,
    ("rejects", "delete-sms"): delete_sms_reject,
}
