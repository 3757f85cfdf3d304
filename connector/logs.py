"""Structured logging: JSON in production, console on a terminal, and never a raw address or number.

Every event passes through :func:`redact_personal_data`, which replaces e-mail addresses and phone
numbers anywhere in the event with a stable fingerprint (``email:1a2b3c4d``), so the same person can be
followed through the logs without the logs holding their address.

structlog (with rich, which its console renderer loads) takes a tenth of a second to import, and a
one-contact command never logs through it: :func:`configure_logging` configures it when something first
imports it, and the standard library's records are formatted by it from the first record on.
"""

import hashlib
import importlib.util
import logging
import re
import sys
from collections.abc import Callable, MutableMapping, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

from connector.settings import LoggingSettings

if TYPE_CHECKING:
    import structlog

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


def _stderr_logger(*_args: Any) -> "structlog.PrintLogger":
    """A logger on whatever ``sys.stderr`` is now (test runners swap it)."""
    import structlog

    return structlog.PrintLogger(sys.stderr)


class _WhenImported:
    """A finder that runs ``then`` once ``name`` has been imported, wherever the import comes from."""

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != self.name:
            return None
        _forget_pending()
        spec = importlib.util.find_spec(name)  # by the other finders
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        then = self.then

        def exec_then(module: ModuleType) -> None:
            exec_module(module)
            then()

        spec.loader.exec_module = exec_then  # type: ignore[method-assign]
        return spec


def _forget_pending() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _WhenImported)]


class _StructlogFormatter(logging.Formatter):
    """structlog's formatter for stdlib records, built (and structlog imported) at the first record."""

    def __init__(self, use_json: bool) -> None:
        super().__init__()
        self._use_json = use_json
        self._formatter: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._formatter is None:
            import structlog

            renderer = _renderer(self._use_json)
            self._formatter = structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    redact_personal_data,
                    renderer,
                ],
                foreign_pre_chain=[
                    *_shared_processors(),
                    structlog.stdlib.add_logger_name,
                    structlog.stdlib.ExtraAdder(),
                ],
            )
        return self._formatter.format(record)


def _renderer(use_json: bool) -> Any:
    import structlog

    return structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()


def _shared_processors() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _configure_structlog(use_json: bool, level: int) -> None:
    import structlog

    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            redact_personal_data,
            _renderer(use_json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def configure_logging(settings: LoggingSettings, *, service: bool = False) -> None:
    """structlog for our events; stdlib records (uvicorn, SQLAlchemy, alembic) rendered the same way.

    A ``service`` (the daemon, ``serve``) logs JSON unless ``logging.format`` says otherwise, at the
    configured level. A human command logs in the console format and, unless ``logging.level`` is set,
    warnings only: its report is what the person reads, not log lines above it. structlog is configured
    now if it is loaded, else as soon as it is (before anything can log through it).
    """
    use_json = settings.format == "json" or (settings.format == "auto" and service)
    chosen = settings.level if service or "level" in settings.model_fields_set else "WARNING"
    level = logging.getLevelNamesMapping()[chosen]
    _forget_pending()
    if "structlog" in sys.modules:
        _configure_structlog(use_json, level)
    else:
        sys.meta_path.insert(0, _WhenImported("structlog", lambda: _configure_structlog(use_json, level)))
    handler = _StderrHandler()
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(_StructlogFormatter(use_json))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for noisy in ("alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(quiet)
    # SQLAlchemy's debug lines hold result rows (names, free text) that no redactor can recognise.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
