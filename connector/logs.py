"""Structured logging: JSON in production, console on a terminal, and never a raw address or number.

Every event passes through :func:`redact_personal_data`, which replaces e-mail addresses and phone
numbers anywhere in the event with a stable fingerprint (``email:1a2b3c4d``), so the same person can be
followed through the logs without the logs holding their address.
"""

import hashlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from connector.settings import LoggingSettings

EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
PHONE_PATTERN = re.compile(r"(?<![\w.:-])\+?\d[\d ()-]{6,}\d(?![\w.:-])")
PRIVACY_LINK = re.compile(r"/me/[A-Za-z0-9_.=-]+")
"""A personal privacy-page link's path: its token opens the person's page, so it never reaches a log."""
ISO_DATE = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
"""Looks like a phone number to :data:`PHONE_PATTERN` (``2026-11-23 11:52``) but is a date: kept."""


def fingerprint(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()[:10]
    return f"{kind}:{digest}"


def redact_text(text: str) -> str:
    text = PRIVACY_LINK.sub("/me/<token>", text)
    text = EMAIL_PATTERN.sub(lambda m: fingerprint("email", m.group(0)), text)
    return PHONE_PATTERN.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if ISO_DATE.fullmatch(found) else fingerprint("phone", found)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_personal_data(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: fingerprint e-mail addresses and phone numbers in every value."""
    for key, value in list(event.items()):
        event[key] = _redact(value)
    return event


class _RedactingFilter(logging.Filter):
    """The same guarantee for stdlib log records (uvicorn, SQLAlchemy, alembic)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is now (test runners swap it)."""
    return structlog.PrintLogger(sys.stderr)


def configure_logging(settings: LoggingSettings, *, service: bool = False) -> None:
    """structlog for our events; stdlib records (uvicorn, SQLAlchemy, alembic) rendered the same way.

    A ``service`` (the daemon, ``serve``) logs JSON unless ``logging.format`` says otherwise, at the
    configured level. A human command logs in the console format and, unless ``logging.level`` is set,
    warnings only: its report is what the person reads, not log lines above it.
    """
    use_json = settings.format == "json" or (settings.format == "auto" and service)
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    chosen = settings.level if service or "level" in settings.model_fields_set else "WARNING"
    level = logging.getLevelNamesMapping()[chosen]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact_personal_data, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_personal_data,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        )
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for noisy in ("alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(quiet)
    # SQLAlchemy's debug lines hold result rows (names, free text) that no redactor can recognise.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
