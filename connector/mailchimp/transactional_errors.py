"""Sort Mailchimp Transactional answers into OK, retryable or fatal. Pure.

Transactional answers every error with HTTP 500 (a few with 4xx) and a JSON document
``{"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key"}``. The ``name``
decides, not the status:

- Fatal: ``Invalid_Key``, ``ValidationError``, ``PaymentRequired``, every ``Unknown_*`` (template,
  message, sender, subaccount, webhook…), every ``Invalid_*`` (template, reject, tag name…) and any
  other named error: the same call would fail again.
- Retryable: ``GeneralError`` and ``ServiceUnavailable`` (Transactional's own "try again" names), 429,
  and any 408/5xx whose body is not such a document (a proxy or load balancer answered), timeouts and
  connection errors (``classify_transport_error`` of the Marketing side).

Sources: the error names are those of Mandrill's own client libraries (PyPI ``mandrill`` 1.0.60,
``mandrill.py`` ``ROOT``/``ERROR_MAP``; the ``mandrill-api`` gem's ``lib/mandrill/errors.rb``), the
document's shape is the one the official ``mailchimp-transactional`` client raises as
``ApiClientError(text=<decoded JSON>, status_code)`` for any non-2xx answer (``api_client.py``).
"""

import json
from collections.abc import Mapping

from connector.mailchimp.classify import Classification, Problem, Verdict, redact, retry_after_seconds

RETRYABLE_NAMES = frozenset({"GeneralError", "ServiceUnavailable"})
"""Named errors Transactional documents as transient (an unexpected error; the service is down)."""


def transactional_error(body: str) -> tuple[str, str | None] | None:
    """``(name, message)`` of a Transactional error document, or ``None`` if the body is not one."""
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("status") != "error" or not isinstance(data.get("name"), str):
        return None
    message = data.get("message")
    return str(data["name"]), redact(str(message)) if message is not None else None


def classify_transactional(status: int, headers: Mapping[str, str], body: str) -> Classification:
    """The verdict for one Transactional answer (``status`` < 400 is fine)."""
    if status < 400:
        return Classification(Verdict.OK, "ok")
    retry_after = retry_after_seconds(headers)
    named = transactional_error(body)
    if named is not None:
        name, message = named
        problem = Problem(status, name, message)
        if name in RETRYABLE_NAMES:
            return Classification(Verdict.RETRYABLE, "server error", problem, retry_after)
        if status == 429:
            return Classification(Verdict.RETRYABLE, "throttled", problem, retry_after, throttled=True)
        return Classification(Verdict.FATAL, name, problem)
    problem = Problem(status, None, "empty body" if not body.strip() else "not a Transactional error")
    if status == 429:
        return Classification(Verdict.RETRYABLE, "throttled", problem, retry_after, throttled=True)
    if status == 408 or status >= 500:
        return Classification(Verdict.RETRYABLE, "server error", problem, retry_after)
    return Classification(Verdict.FATAL, "client error", problem)
