"""The one place that sends HTTP to Mailchimp: pooled session, connection cap, timeouts, retries.

Every request holds a :class:`~connector.mailchimp.connections.ConnectionCap` slot while it is on the
wire (not while it sleeps between attempts). Retryable failures (429, body-less 403, 408, 5xx, timeouts,
connection errors) are retried by tenacity with full-jitter exponential backoff, bounded by
``mailchimp.max_attempts``; a ``Retry-After`` header raises the wait to at least what it asks (up to
:data:`RETRY_AFTER_CEILING`). Each retry is logged as ``mailchimp.retry`` with the endpoint template and
status, never an id or address.
"""

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import requests
import structlog
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity import wait_random_exponential as _wait_random_exponential

from connector.errors import FatalMailchimpError, MailchimpError, RetryableMailchimpError
from connector.mailchimp.classify import (
    Classification,
    Problem,
    Verdict,
    classify_response,
    classify_transport_error,
)
from connector.mailchimp.connections import ConnectionCap
from connector.mailchimp.stats import GatewayStats

log = structlog.get_logger(__name__)

RETRY_AFTER_CEILING = 300.0
CONNECT_TIMEOUT_CEILING = 10.0
USER_AGENT = "consent-sync/0.1 (+python-requests)"

QueryValue = str | int | bool | datetime | Collection[str] | None
Classifier = Callable[[int, Mapping[str, str], str], Classification]
"""Sorts an answer (status, headers, body text) into OK, retryable or fatal."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API operation, labelled by its template so logs and counters never carry ids."""

    method: str
    template: str

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    def path(self, path_params: Mapping[str, object]) -> str:
        return self.template.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: object
    """Decoded JSON, or ``None`` for an empty body (204, DELETE)."""
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    initial_seconds: float
    max_seconds: float


class TransientMailchimpError(RetryableMailchimpError):
    """A retryable failure, with what the retry loop needs (``Retry-After``, throttling)."""

    def __init__(
        self, message: str, *, status: int | None, title: str | None, classification: Classification
    ) -> None:
        super().__init__(message, status=status, title=title)
        self.retry_after = classification.retry_after
        self.throttled = classification.throttled
        self.reason = classification.reason


def build_session(pool_size: int) -> requests.Session:
    """A session whose connection pool holds ``pool_size`` connections per host and never more."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, pool_block=True, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class Transport:
    """Sends one API call (with retries) and returns a :class:`Reply` or raises a MailchimpError."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout_seconds: float,
        retry: RetryPolicy,
        cap: ConnectionCap,
        stats: GatewayStats,
        session: requests.Session | None = None,
        classify: Classifier = classify_response,
        basic_auth: bool = True,
    ) -> None:
        """``classify`` and ``basic_auth=False`` serve Mailchimp Transactional, whose key travels in the
        JSON body and whose errors are HTTP 500 documents with a ``name``."""
        self.base_url = base_url.rstrip("/")
        self.cap = cap
        self.stats = stats
        self.session = session if session is not None else build_session(cap.limit)
        self._auth = HTTPBasicAuth("consent-sync", api_key) if basic_auth else None  # repr hides the key
        self._classify = classify
        self._timeout = (min(timeout_seconds, CONNECT_TIMEOUT_CEILING), timeout_seconds)
        self._retry = retry
        self._jitter = _wait_random_exponential(multiplier=retry.initial_seconds, max=retry.max_seconds)

    def call(
        self,
        endpoint: Endpoint,
        path_params: Mapping[str, object] | None = None,
        *,
        params: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, object] | None = None,
        accept: Collection[int] = (),
    ) -> Reply:
        """Call ``endpoint``; statuses in ``accept`` come back as a Reply instead of raising."""
        url = self.base_url + endpoint.path(path_params or {})
        request = _Request(endpoint, url, _query(params or {}), body, frozenset(accept), authenticated=True)
        return self._with_retries(request)

    def download(self, url: str) -> bytes:
        """GET an absolute URL (batch results on storage) without the API key, with the same retries."""
        request = _Request(
            Endpoint("GET", "<batch results>"), url, {}, None, frozenset(), authenticated=False
        )
        reply = self._with_retries(request)
        assert isinstance(reply.data, bytes)
        return reply.data

    def close(self) -> None:
        self.session.close()

    def _with_retries(self, request: "_Request") -> Reply:
        label = str(request.endpoint)
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientMailchimpError),
            before_sleep=lambda state: self._log_retry(label, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, request)
        except MailchimpError:
            self.stats.failed(label)
            raise

    def _attempt(self, request: "_Request") -> Reply:
        label = str(request.endpoint)
        with self.cap.slot():
            self.stats.called(label, self.cap.in_flight)
            try:
                response = self.session.request(
                    request.endpoint.method,
                    request.url,
                    params=request.params,
                    json=request.body,
                    auth=self._auth if request.authenticated else None,
                    timeout=self._timeout,
                )
            except requests.RequestException as error:
                raise _transport_failure(label, error) from error
        return self._judge(request, response)

    def _judge(self, request: "_Request", response: requests.Response) -> Reply:
        label = str(request.endpoint)
        text = response.text if response.status_code >= 400 else ""
        verdict = self._classify(response.status_code, response.headers, text)
        if verdict.verdict is Verdict.OK:
            return Reply(response.status_code, _decode(label, response, request.authenticated))
        if response.status_code in request.accept:
            return Reply(response.status_code, None, verdict.problem)
        problem = verdict.problem or Problem(response.status_code, None, None)
        message = f"{label} → {response.status_code} {problem.describe()}"
        if verdict.verdict is Verdict.RETRYABLE:
            if verdict.throttled:
                self.stats.throttled(label)
            raise TransientMailchimpError(
                message, status=response.status_code, title=problem.title, classification=verdict
            )
        raise FatalMailchimpError(message, status=response.status_code, title=problem.title)

    def _wait(self, state: RetryCallState) -> float:
        backoff = float(self._jitter(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TransientMailchimpError) and error.retry_after is not None:
            return max(backoff, min(error.retry_after, RETRY_AFTER_CEILING))
        return backoff

    def _log_retry(self, label: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        self.stats.retried(label)
        log.warning(
            "mailchimp.retry",
            endpoint=label,
            status=getattr(error, "status", None),
            reason=getattr(error, "reason", None),
            attempt=state.attempt_number,
            wait_seconds=round(state.next_action.sleep, 3) if state.next_action else None,
        )


@dataclass(frozen=True, slots=True)
class _Request:
    endpoint: Endpoint
    url: str
    params: Mapping[str, str]
    body: Mapping[str, object] | None
    accept: frozenset[int]
    authenticated: bool


def _transport_failure(label: str, error: requests.RequestException) -> MailchimpError:
    verdict = classify_transport_error(error)
    message = f"{label} → {verdict.reason}"
    if verdict.verdict is Verdict.RETRYABLE:
        return TransientMailchimpError(message, status=None, title=None, classification=verdict)
    return FatalMailchimpError(message)


def _query(params: Mapping[str, QueryValue]) -> dict[str, str]:
    """Query values as Mailchimp expects them: ``true``/``false``, ISO 8601, comma-separated lists."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            query[key] = value.isoformat()
        elif isinstance(value, str | int):
            query[key] = str(value)
        else:
            query[key] = ",".join(value)
    return query


def _decode(label: str, response: requests.Response, api_call: bool) -> object:
    if not api_call:
        return response.content
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        raise FatalMailchimpError(
            f"{label} → {response.status_code} with a body that is not JSON", status=response.status_code
        ) from None
