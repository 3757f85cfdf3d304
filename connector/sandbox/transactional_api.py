"""Mailchimp Transactional (Mandrill) API 1.x at ``/api/1.0/...`` (and ``/api/1.3/...``, the official
client's default): ``users/ping|ping2``, ``messages/send|send-template|info``, ``templates/add|list|info``,
``rejects/add|list|delete``, ``webhooks/add|list``, ``senders/domains``; and SMS
(:mod:`connector.sandbox.transactional_sms`): ``messages/send-sms``, ``rejects/add-sms|list-sms|delete-sms``.

Every call is a ``POST`` of JSON with the key in ``key``; a ``.json`` suffix is optional, as on
Transactional. Errors answer HTTP 500 ``{"status": "error", "code": …, "name": …, "message": …}``. The
guard in front adds the Marketing sandbox's connection limit, injected faults and latency.
"""

import json
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.transactional_errors import TransactionalError, text_field
from connector.sandbox.transactional_events import fire
from connector.sandbox.transactional_render import fill_regions, merge, pairs, text_of
from connector.sandbox.transactional_sms import SMS_HANDLERS
from connector.sandbox.transactional_state import (
    OutboxEntry,
    RejectRecord,
    SendingDomain,
    TemplateRecord,
    TransactionalState,
    TransactionalWebhook,
)
from connector.sandbox.webhooks import is_local_url

router = APIRouter()
MAX_BODY_BYTES = 10 * 1024 * 1024
"""Transactional: "the JSON provided per API call must be less than 10MB"."""
WEBHOOK_EVENTS = frozenset(
    {"send", "hard_bounce", "soft_bounce", "open", "click", "spam", "unsub", "reject", "deferral"}
)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ERROR_CODES = {"Invalid_Key": -1, "ValidationError": -2, "Unknown_Template": 5, "Invalid_Template": 6}
Handler = Callable[[SandboxRuntime, dict[str, Any]], object]


def error_response(name: str, message: str, status: int = 500) -> Response:
    document = {"status": "error", "code": _ERROR_CODES.get(name, -1), "name": name, "message": message}
    return JSONResponse(document, status_code=status)


def stamp(moment: datetime | None) -> str | None:
    """Transactional's UTC timestamps: ``2013-01-01 15:30:27``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else None


@router.post("/api/{version}/{group}/{action}")
async def call(version: str, group: str, action: str, request: Request) -> Response:
    runtime: SandboxRuntime = request.app.state.runtime
    handler = HANDLERS.get((group, action.removesuffix(".json"))) if version in ("1.0", "1.3") else None
    if handler is None:
        return error_response("ValidationError", f"Unknown method {group}/{action}", 404)
    raw = await request.body()
    if len(raw) >= MAX_BODY_BYTES:
        return error_response("ValidationError", "The request body must be less than 10MB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return error_response("ValidationError", "You must specify a key value")
    if not isinstance(body, dict):
        return error_response("ValidationError", "The request body must be a JSON object")
    key = body.get("key")
    accepted = runtime.knobs.transactional_keys
    if not isinstance(key, str) or not key.strip() or (accepted and key not in accepted):
        return error_response("Invalid_Key", "Invalid API key")
    try:
        answer = await run_in_threadpool(handler, runtime, body)
    except TransactionalError as error:
        return error_response(error.name, error.message)
    return JSONResponse(answer)


def _state(runtime: SandboxRuntime) -> TransactionalState:
    return runtime.transactional


_text = text_field


def ping(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    return "PONG!"


def ping2(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    return {"PING": "PONG!"}


# --- messages -------------------------------------------------------------------------------------


def send(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    return _send(runtime, _message(body), None)


def send_template(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    name = _text(body, "template_name", required=True)
    assert name is not None
    state = _state(runtime)
    with state.lock:
        template = _template(state, name)
    return _send(runtime, _message(body), (template, pairs(body.get("template_content"))))


def _message(body: dict[str, Any]) -> dict[str, Any]:
    message = body.get("message")
    if not isinstance(message, dict):
        raise TransactionalError("ValidationError", 'Validation error: {"message":"Please enter an array"}')
    to = message.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(r, dict) for r in to):
        raise TransactionalError(
            "ValidationError", 'Validation error: {"message":{"to":"Please enter an array"}}'
        )
    return message


def _send(
    runtime: SandboxRuntime, message: dict[str, Any], template: tuple[TemplateRecord, dict[str, str]] | None
) -> list[dict[str, object]]:
    state = _state(runtime)
    now = runtime.now()
    html, text, subject = message.get("html"), message.get("text"), message.get("subject")
    from_email, from_name = message.get("from_email"), message.get("from_name")
    template_name = None
    if template is not None:
        record, content = template
        template_name = record.name
        html = fill_regions(record.code, content) if record.code else html
        text = text or record.text or (text_of(html) if html else None)
        subject = subject or record.subject
        from_email = from_email or record.from_email
        from_name = from_name or record.from_name
    if not isinstance(from_email, str) or not _ADDRESS.match(from_email):
        raise TransactionalError(
            "ValidationError",
            'Validation error: {"message":{"from_email":"An email address must contain a single @"}}',
        )
    global_vars = pairs(message.get("global_merge_vars"))
    per_recipient = {
        str(item.get("rcpt", "")).lower(): pairs(item.get("vars"))
        for item in message.get("merge_vars") or []
        if isinstance(item, dict)
    }
    recipient_metadata = {
        str(item.get("rcpt", "")).lower(): {str(k): str(v) for k, v in (item.get("values") or {}).items()}
        for item in message.get("recipient_metadata") or []
        if isinstance(item, dict) and isinstance(item.get("values"), dict)
    }
    metadata = {str(k): str(v) for k, v in (message.get("metadata") or {}).items()}
    tags = [str(t) for t in message.get("tags") or []]
    merging = message.get("merge", True) is not False
    domain = from_email.rpartition("@")[2].lower()
    answers: list[dict[str, object]] = []
    rejected: list[OutboxEntry] = []
    with state.lock:
        sending = state.data.domains.setdefault(domain, SendingDomain(domain, now))
        for recipient in cast(list[dict[str, Any]], message["to"]):
            email = str(recipient.get("email", "")).strip()
            key = email.lower()
            values = global_vars | per_recipient.get(key, {})
            status, reason = "sent", None
            reject = state.data.rejects.get(key)
            if not _ADDRESS.match(email):
                status = "invalid"
            elif reject is not None and (reject.expires_at is None or reject.expires_at > now):
                status, reason = "rejected", reject.reason
            elif not sending.valid_signing:
                status, reason = "rejected", "unsigned"
            entry = OutboxEntry(
                id=uuid.uuid4().hex,
                at=now,
                email=email,
                name=recipient.get("name") if isinstance(recipient.get("name"), str) else None,
                from_email=from_email,
                from_name=from_name if isinstance(from_name, str) else None,
                subject=merge(subject, values) if merging else subject,
                text=merge(text, values) if merging else text,
                html=merge(html, values) if merging else html,
                template=template_name,
                metadata=metadata | recipient_metadata.get(key, {}),
                tags=tags,
                status=status,
                reject_reason=reason,
                state="sent" if status == "sent" else "rejected",
            )
            state.data.outbox.append(entry)
            state.data.messages[entry.id] = entry
            if status == "rejected":
                rejected.append(entry)
            answer: dict[str, object] = {"email": email, "status": status, "_id": entry.id}
            if reason is not None:
                answer["reject_reason"] = reason
            answers.append(answer)
    for entry in rejected:
        fire(runtime, "reject", entry)
    return answers


def info(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    message_id = _text(body, "id", required=True)
    state = _state(runtime)
    with state.lock:
        entry = state.data.messages.get(message_id or "")
        if entry is None:
            raise TransactionalError("Unknown_Message", f'No message exists with the id "{message_id}"')
        document: dict[str, object] = {
            "ts": int(entry.at.timestamp()),
            "_id": entry.id,
            "sender": entry.from_email,
            "template": entry.template,
            "subject": entry.subject,
            "email": entry.email,
            "tags": entry.tags,
            "opens": 0,
            "clicks": 0,
            "state": entry.state,
            "metadata": entry.metadata,
            "smtp_events": [],
        }
        return {k: v for k, v in document.items() if v is not None}


# --- templates ------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _template(state: TransactionalState, name: str) -> TemplateRecord:
    found = state.data.templates.get(_slug(name))
    if found is None:
        raise TransactionalError("Unknown_Template", f'No such template "{name}"')
    return found


def template_document(record: TemplateRecord) -> dict[str, object]:
    document: dict[str, object] = {
        "slug": record.slug,
        "name": record.name,
        "labels": record.labels,
        "code": record.code,
        "subject": record.subject,
        "from_email": record.from_email,
        "from_name": record.from_name,
        "text": record.text,
        "publish_name": record.name,
        "publish_code": record.code,
        "publish_subject": record.subject,
        "publish_from_email": record.from_email,
        "publish_from_name": record.from_name,
        "publish_text": record.text,
        "published_at": stamp(record.updated_at),
        "created_at": stamp(record.created_at),
        "updated_at": stamp(record.updated_at),
    }
    return {k: v for k, v in document.items() if v is not None}


def add_template(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    name = _text(body, "name", required=True)
    assert name is not None
    state = _state(runtime)
    now = runtime.now()
    with state.lock:
        if _slug(name) in state.data.templates:
            raise TransactionalError("Invalid_Template", f'A template with name "{name}" already exists')
        record = TemplateRecord(
            name=name,
            slug=_slug(name),
            code=_text(body, "code") or "",
            text=_text(body, "text"),
            subject=_text(body, "subject"),
            from_email=_text(body, "from_email"),
            from_name=_text(body, "from_name"),
            labels=[str(label).lower() for label in body.get("labels") or []],
            created_at=now,
            updated_at=now,
        )
        state.data.templates[record.slug] = record
        return template_document(record)


def list_templates(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    label = _text(body, "label")
    state = _state(runtime)
    with state.lock:
        return [
            template_document(t)
            for t in state.data.templates.values()
            if label is None or label.lower() in t.labels
        ]


def template_info(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    name = _text(body, "name", required=True)
    state = _state(runtime)
    with state.lock:
        return template_document(_template(state, name or ""))


# --- rejects --------------------------------------------------------------------------------------

REJECT_LIFETIMES = {
    "soft-bounce": timedelta(hours=24),
    "hard-bounce": timedelta(days=7),
    "spam": timedelta(days=365),
    "unsub": timedelta(days=365),
}
"""How long a reject stays (API-NOTES §10): manual (``custom``) entries never expire."""


def add_to_reject_list(
    state: TransactionalState, email: str, reason: str, detail: str, now: datetime
) -> RejectRecord:
    lifetime = REJECT_LIFETIMES.get(reason)
    record = RejectRecord(email, reason, detail, now, now + lifetime if lifetime else None)
    with state.lock:
        state.data.rejects[email.strip().lower()] = record
    return record


def reject_document(record: RejectRecord, now: datetime) -> dict[str, object]:
    document: dict[str, object] = {
        "email": record.email,
        "reason": record.reason,
        "detail": record.detail,
        "created_at": stamp(record.created_at),
        "last_event_at": stamp(record.created_at),
        "expires_at": stamp(record.expires_at),
        "expired": record.expires_at is not None and record.expires_at <= now,
    }
    return {k: v for k, v in document.items() if v is not None}


def add_reject(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    email = _text(body, "email", required=True) or ""
    if not _ADDRESS.match(email):
        raise TransactionalError("Invalid_Reject", f'"{email}" is not a valid email address')
    add_to_reject_list(
        _state(runtime), email, "custom", _text(body, "comment") or "Added manually", runtime.now()
    )
    return {"email": email, "added": True}


def list_rejects(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    email = (_text(body, "email") or "").lower()
    include_expired = body.get("include_expired") is True
    state = _state(runtime)
    now = runtime.now()
    with state.lock:
        records = [r for key, r in state.data.rejects.items() if not email or key == email]
    documents = [reject_document(r, now) for r in records]
    return [d for d in documents if include_expired or not d["expired"]]


def delete_reject(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    email = _text(body, "email", required=True) or ""
    state = _state(runtime)
    with state.lock:
        deleted = state.data.rejects.pop(email.lower(), None) is not None
    return {"email": email, "deleted": deleted}


# --- webhooks and senders -------------------------------------------------------------------------


def webhook_document(hook: TransactionalWebhook) -> dict[str, object]:
    document: dict[str, object] = {
        "id": hook.id,
        "url": hook.url,
        "description": hook.description,
        "auth_key": hook.auth_key,
        "events": hook.events,
        "created_at": stamp(hook.created_at),
        "last_sent_at": stamp(hook.last_sent_at),
        "batches_sent": hook.batches_sent,
        "events_sent": hook.events_sent,
    }
    return {k: v for k, v in document.items() if v is not None}


def add_webhook(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    url = _text(body, "url", required=True) or ""
    if not runtime.knobs.allow_remote_webhooks and not is_local_url(url):
        raise TransactionalError("ValidationError", "The sandbox only calls loopback or private addresses")
    events = [str(e) for e in body.get("events") or []]
    unknown = sorted(set(events) - WEBHOOK_EVENTS)
    if unknown:
        raise TransactionalError("ValidationError", f"Unknown webhook events: {', '.join(unknown)}")
    if not _answers_head(url, runtime.knobs.webhook_timeout_s):
        raise TransactionalError("ValidationError", f"The URL {url} did not answer 200 to a HEAD request")
    state = _state(runtime)
    hook = TransactionalWebhook(
        id=state.next_number(),
        url=url,
        description=_text(body, "description") or "",
        auth_key=secrets.token_urlsafe(16),
        events=events,
        created_at=runtime.now(),
    )
    with state.lock:
        state.data.webhooks[hook.id] = hook
    return webhook_document(hook)


def _answers_head(url: str, timeout_s: float) -> bool:
    """Transactional checks a new webhook URL with a ``HEAD`` request that must answer 200."""
    import requests

    try:
        return requests.head(url, timeout=timeout_s, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def list_webhooks(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    state = _state(runtime)
    with state.lock:
        return [webhook_document(h) for h in state.data.webhooks.values()]


def sending_domains(runtime: SandboxRuntime, body: dict[str, Any]) -> object:
    state = _state(runtime)
    with state.lock:
        domains = list(state.data.domains.values())
    return [
        {
            "domain": d.domain,
            "created_at": stamp(d.created_at),
            "last_tested_at": stamp(d.created_at),
            "spf": {"valid": d.valid_signing, "valid_after": stamp(d.created_at)},
            "dkim": {"valid": d.valid_signing, "valid_after": stamp(d.created_at)},
            "verified_at": stamp(d.created_at),
            "valid_signing": d.valid_signing,
        }
        for d in domains
    ]


HANDLERS: dict[tuple[str, str], Handler] = {
    ("users", "ping"): ping,
    ("users", "ping2"): ping2,
    ("messages", "send"): send,
    ("messages", "send-template"): send_template,
    ("messages", "info"): info,
    ("templates", "add"): add_template,
    ("templates", "list"): list_templates,
    ("templates", "info"): template_info,
    ("rejects", "add"): add_reject,
    ("rejects", "list"): list_rejects,
    ("rejects", "delete"): delete_reject,
    ("webhooks", "add"): add_webhook,
    ("webhooks", "list"): list_webhooks,
    ("senders", "domains"): sending_domains,
    **SMS_HANDLERS,
}
