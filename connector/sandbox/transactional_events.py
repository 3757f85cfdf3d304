"""Transactional's webhooks: events (``hard_bounce``, ``soft_bounce``, ``spam``, ``unsub``, ``reject``…)
POSTed form-encoded as ``mandrill_events=<JSON array>``, signed with ``X-Mandrill-Signature`` (base64
HMAC-SHA1 with the webhook's ``auth_key`` over the URL and the sorted POST fields), delivered and retried
by the sandbox's webhook worker.
"""

import json
from urllib.parse import urlencode

from connector.core.mandrill_signature import mandrill_signature
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.transactional_state import OutboxEntry
from connector.sandbox.webhooks import Delivery

USER_AGENT = "Mandrill-Webhook/1.0"
MESSAGE_STATES = {
    "hard_bounce": "bounced",
    "soft_bounce": "soft-bounced",
    "spam": "sent",
    "unsub": "sent",
    "reject": "rejected",
}


def event_document(
    event: str, entry: OutboxEntry, ts: int, description: str | None = None
) -> dict[str, object]:
    msg: dict[str, object] = {
        "ts": int(entry.at.timestamp()),
        "_id": entry.id,
        "state": MESSAGE_STATES.get(event, entry.state),
        "email": entry.email,
        "sender": entry.from_email,
        "subject": entry.subject,
        "tags": entry.tags,
        "metadata": entry.metadata,
        "template": entry.template,
        "opens": [],
        "clicks": [],
    }
    if event in ("hard_bounce", "soft_bounce"):
        msg["bounce_description"] = description or (
            "bad_mailbox" if event == "hard_bounce" else "mailbox_full"
        )
        msg["diag"] = "smtp;550 5.1.1 The email account that you tried to reach does not exist."
    return {"event": event, "_id": entry.id, "ts": ts, "msg": msg}


def fire(runtime: SandboxRuntime, event: str, entry: OutboxEntry, description: str | None = None) -> int:
    """Queue ``event`` for every webhook that asked for it; the number of webhooks it goes to."""
    state = runtime.transactional
    now = runtime.now()
    with state.lock:
        hooks = [h for h in state.data.webhooks.values() if event in h.events]
        for hook in hooks:
            hook.batches_sent += 1
            hook.events_sent += 1
            hook.last_sent_at = now
    payload = json.dumps([event_document(event, entry, int(now.timestamp()), description)])
    for hook in hooks:
        params = {"mandrill_events": payload}
        headers = (
            ("X-Mandrill-Signature", mandrill_signature(hook.auth_key, hook.url, params)),
            ("User-Agent", USER_AGENT),
        )
        body = urlencode(params).encode()
        runtime.webhooks.submit(
            Delivery("", f"transactional:{hook.id}", hook.url, None, event, body, headers=headers)
        )
    return len(hooks)
