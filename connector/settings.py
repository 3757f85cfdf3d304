"""Typed settings: one TOML file overridden by ``CONSENT_SYNC_…`` environment variables.

Load once in a composition root (the CLI, the API factory, the daemon) with :func:`load_settings` and
pass the result in; nothing here runs at import time. Secrets (API key, webhook secrets, admin tokens,
the suppression key) come only from the environment or from files, never from the TOML file.

Nested keys use a double underscore in the environment: ``CONSENT_SYNC_DATABASE__URL``,
``CONSENT_SYNC_MAILCHIMP__API_KEY``, ``CONSENT_SYNC_POLICY__REQUIRE_DOUBLE_OPT_IN``.
"""

import json
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from connector.core.console_roles import Role
from connector.core.policy_settings import PolicySettings
from connector.core.specificity import InterestMapping
from connector.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("consent-sync.toml")
CONFIG_FILE_VARIABLE = "CONSENT_SYNC_CONFIG"

SECRET_KEYS: tuple[tuple[str, str], ...] = (
    ("mailchimp", "api_key"),
    ("webhooks", "secret"),
    ("webhooks", "signing_secret"),
    ("admin", "tokens"),
    ("security", "suppression_key"),
    ("security", "confirmation_key"),
    ("security", "preferences_key"),
    ("security", "preferences_previous_keys"),
    ("transactional", "api_key"),
    ("transactional", "webhook_key"),
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DATABASE_SCHEMES = ("sqlite", "postgresql+psycopg")
"""Schemes of ``database.url`` the installed drivers serve; ``postgresql`` and ``postgres`` mean psycopg 3."""
_PSYCOPG_ALIASES = frozenset({"postgresql", "postgres"})
_ACCEPTED = "sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE (or postgres://, postgresql+psycopg://)"


class DatabaseSettings(_Section):
    url: str = "sqlite:///./consent-sync.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _installed_driver(cls, value: str) -> str:
        """``postgresql://`` and ``postgres://`` mean ``postgresql+psycopg://``; other schemes are refused."""
        scheme, separator, rest = value.strip().partition("://")
        scheme = scheme.lower()
        if not separator or not scheme:
            raise ValueError(f"not a database URL; use {_ACCEPTED}")
        scheme = "postgresql+psycopg" if scheme in _PSYCOPG_ALIASES else scheme
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; use {_ACCEPTED}")
        url = f"{scheme}://{rest}"
        try:
            make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError(f"not a valid {scheme} URL; use {_ACCEPTED}") from None
        return url


class MailchimpSettings(_Section):
    api_key: SecretStr | None = None
    base_url: str | None = None
    """Override of ``https://<dc>.api.mailchimp.com/3.0``, e.g. the sandbox's ``http://127.0.0.1:8800/3.0``."""
    max_connections: int = Field(default=8, ge=1, le=10)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=30.0, ge=0)


class AudienceSettings(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    list_id: str | None = None
    """Mailchimp's audience id; when empty, the audience is created on first use (sandbox and demo)."""
    purposes: tuple[str, ...] = ()
    merge_fields: dict[str, str] = Field(
        default_factory=lambda: {"FNAME": "first_name", "LNAME": "last_name"}
    )
    mode: Literal["segments", "strict"] | None = None
    """Overrides ``mapping.mode`` for this audience."""
    notice_route: Literal["transactional", "journey", "campaign", "none"] = "transactional"
    """How transactional notices to this audience's contacts travel (README "Transactional notices"):
    Mailchimp Transactional, a Customer Journey triggered per contact, or a campaign to the
    "Transactional notices" segment (subscribed members only, segments mode)."""
    journey_id: int | None = Field(default=None, ge=1)
    journey_step_id: int | None = Field(default=None, ge=1)
    interests: tuple[InterestMapping, ...] = ()
    """Mailchimp interests (group check boxes) that stand for purposes: a sign-up or export row grants
    exactly the mapped purposes it ticked; sync writes the mapped interest ids back."""
    mailchimp_signup_purposes: tuple[str, ...] = ("newsletter",)
    """What a Mailchimp sign-up whose groups are unknown grants (never an ``explicit_only`` purpose)."""
    mailchimp_notice_version: str | None = None
    """The notice version of the audience's Mailchimp form, where the company wrote and keeps its
    wording; unset, Mailchimp sign-ups are recorded with the notice unknown."""


class ImportSettings(_Section):
    notice_versions: dict[str, str] = Field(default_factory=dict)
    """``--source`` name → the notice version its consents were given under, used for rows that carry
    none (a legacy list); without one such rows are recorded with the notice unknown."""


class TransactionalSettings(_Section):
    """Mailchimp Transactional (Mandrill), the route for notices that reaches unsubscribed contacts."""

    api_key: SecretStr | None = None
    base_url: str = "https://mandrillapp.com/api/1.0"
    from_email: str | None = None
    from_name: str | None = None
    webhook_key: SecretStr | None = None
    """The ``auth_key`` Transactional returned for our webhook: verifies ``X-Mandrill-Signature``."""
    webhook_url: str | None = None
    """The URL exactly as registered with Transactional (the signature covers it); default: the
    request's own URL."""
    sending_domain: str | None = None
    confirm_above: int = Field(default=100, ge=0)
    """``notice send`` asks for confirmation above this many recipients (``--yes`` skips it)."""
    batch_size: int = Field(default=500, ge=1, le=1000)
    """Recipients per ``messages/send`` call (at most the gateway's ``max_recipients_per_call``)."""
    max_connections: int = Field(default=4, ge=1, le=10)
    """Transactional calls in flight at once (the gateway's connection cap)."""
    sms_from: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    """The number SMS notices are sent from (E.164, e.g. ``+4759440000``), as enabled for SMS in the
    Transactional account; without it notices go by e-mail only (the plan says "no SMS route")."""


class MappingSettings(_Section):
    tag_prefix: str = "cs:"
    mode: Literal["segments", "strict"] = "segments"
    on_no_entitlement: Literal["archive", "keep"] = "archive"


class SyncSettings(_Section):
    max_destructive_fraction: float = Field(default=0.10, ge=0, le=1)
    destructive_floor: int = Field(default=10, ge=0)
    """Destructive members a plan may always have, whatever the fraction, so single opt-outs in a small
    audience are never refused. 0 makes the fraction the only limit."""
    batch_size: int = Field(default=500, ge=1, le=500)
    batch_jobs_above: int = Field(default=50, ge=0)
    stream_chunk: int = Field(default=1_000, ge=1)
    """Contacts a streamed sync plans at a time; their calls go out while the next chunk is planned."""
    change_overlap_seconds: int = Field(default=300, ge=0)
    """An incremental sync also looks at contacts marked this long before the last run's watermark. A mark
    carries the time its transaction read the clock, not when it committed: a webhook batch or an import
    that committed after a sync had read the store is still in the next sync. Re-planning a contact that
    needs nothing costs no call."""


class ReconcileSettings(_Section):
    max_inbound_fraction: float = Field(default=0.05, ge=0, le=1)
    """A reconcile recording opt-outs, bounces or deletions for more of the list than this is held."""
    inbound_floor: int = Field(default=10, ge=0)
    """Members a reconcile may always record opt-outs, bounces or deletions for, whatever the fraction."""


class RepermissionSettings(_Section):
    """Re-permission campaigns (README "Re-permission")."""

    expires_days: int = Field(default=30, ge=1, le=365)
    """Days a person asked again has to confirm before the stale consent ends ("not re-confirmed")."""
    confirm_above: int = Field(default=100, ge=0)
    """``repermission send`` asks for confirmation above this many people to ask (``--yes`` skips it)."""


class ScheduleSettings(_Section):
    sync_interval_seconds: int = Field(default=300, ge=5)
    reconcile_interval_seconds: int = Field(default=3600, ge=60)
    full_reconcile_cron: str = "0 3 * * *"
    housekeeping_cron: str = "30 3 * * *"
    inbox_retention_days: int = Field(default=90, ge=1)
    run_retention_days: int = Field(default=90, ge=1)
    shutdown_timeout_seconds: int = Field(default=30, ge=1)
    request_poll_seconds: float = Field(default=5.0, gt=0)
    """How often every daemon looks for audiences a webhook (or the schedule) asked to sync."""
    leader_retry_seconds: float = Field(default=5.0, gt=0)
    """How often a follower tries to become the scheduler leader (and the leader checks its lock)."""
    misfire_grace_seconds: int = Field(default=300, ge=1)
    """A job that could not start on time still runs if it is at most this late."""
    campaign_check_interval_seconds: int = Field(default=900, ge=60)
    """How often the leader checks every audience's unsent campaigns (the campaign guard)."""


class WebhookSettings(_Section):
    secret: SecretStr | None = None
    signing_secret: SecretStr | None = None
    tolerance_seconds: int = Field(default=300, ge=1)
    clock_tolerance_seconds: int = Field(default=300, ge=0)
    """An event's ``fired_at`` later than its receive time by more than this is taken as the receive time."""
    batch_window_ms: float = Field(default=0.5, ge=0, le=100)
    """How long the inbox writer waits after a batch's first event for more to commit with it (0: none)."""


class AdminSettings(_Section):
    tokens: SecretStr | None = None
    """Comma-separated ``name:scope:sha256hex`` entries (scope ``read`` or ``write``)."""


class SecuritySettings(_Section):
    suppression_key: SecretStr | None = None
    suppression_key_file: Path = Path("consent-sync.key")
    confirmation_key: SecretStr | None = None
    preferences_key: SecretStr | None = None
    """Signs the personal privacy-page links (``/me/<token>``); unset (and no key file), there are none."""
    preferences_key_file: Path | None = None
    """Or a file holding that key (as ``suppression_key_file``); the environment's key wins."""
    preferences_previous_keys: SecretStr | None = None
    """Earlier ``preferences_key`` values, comma-separated: links they signed are still accepted (never
    issued) until they expire, so a key can be rotated without breaking links already mailed."""


class OidcSettings(_Section):
    """OpenID Connect sign-in to the console through the company's identity provider (the ``oidc`` extra:
    ``pip install 'consent-sync[oidc]'``). Authorization code flow with PKCE; the ID token's signature
    (the provider's JWKS), issuer, audience, expiry and nonce are checked."""

    issuer: str = Field(min_length=1)
    """The provider's issuer URL, exactly as its ID tokens name it."""
    metadata_url: str | None = None
    """Its discovery document; default ``<issuer>/.well-known/openid-configuration``."""
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    redirect_url: str | None = None
    """The callback as registered with the provider (default: ``/console/login/oidc/callback`` here)."""
    scopes: str = "openid email profile"
    username_claim: str = "email"
    """The claim that names the console user (``email``, ``preferred_username``…)."""
    role_claim: str | None = None
    """A claim (a string or a list, e.g. ``groups``) whose values ``role_map`` turns into a role."""
    role_map: dict[str, Role] = Field(default_factory=dict)
    """Claim value → console role; several matching values give the role with the most rights."""
    default_role: Role | None = None
    """The role when no ``role_map`` value matches; without one such a person may not sign in."""
    known_users_only: bool = True
    """Only users added with ``consent-sync console user add`` (and not disabled) may sign in; their stored
    role applies unless ``role_map`` gives one. ``false``: a person with a role from the claims (or the
    default role) becomes a console user at the first sign-in."""
    button_label: str = "Sign in with your company account"


class ConsoleSettings(_Section):
    oidc: OidcSettings | None = None
    """``[console.oidc]``: optional single sign-on; password sign-in stays available."""


class PreferencesSettings(_Section):
    """The self-service privacy page ``/me/<token>`` and the ``PREFS_URL`` merge field that links to it."""

    public_url: str | None = None
    """Where ``serve`` is reachable from the outside; default ``consent_capture.public_base_url``."""
    link_valid_days: int = Field(default=90, ge=1, le=3650)
    """A link mailed today works at least this long."""
    link_period_days: int = Field(default=30, ge=1, le=3650)
    """Links are re-issued once per period (the expiry is rounded up to the period's end), so the merge
    field of every member changes once a period, not at every sync."""
    merge_field: str = Field(default="PREFS_URL", pattern=r"^[A-Z][A-Z0-9_]{0,9}$")
    notice_version: str = "privacy-page-1"
    """The version of the page's own notice text: recorded with every choice made on the page."""
    requests_per_token: int = Field(default=60, ge=0)
    """Page views and choices per link per ``window_minutes`` (0: no limit)."""
    requests_per_ip: int = Field(default=120, ge=0)
    window_minutes: int = Field(default=10, ge=1)
    fresh_links_per_address: int = Field(default=3, ge=0)
    """Fresh-link e-mails for one stored address per day (0: no limit)."""
    max_body_bytes: int = Field(default=8192, ge=512)


class ContactSettings(_Section):
    default_region: str = Field(default="NO", pattern=r"^[A-Z]{2}$")
    default_jurisdiction: str = "NO"


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class ConsentCaptureSettings(_Section):
    confirmation: Literal["mailchimp", "link"] = "mailchimp"
    """How double opt-in is confirmed: Mailchimp's own e-mail (member PUT ``pending``) or our signed link."""
    audience: str | None = None
    """The audience whose Mailchimp sends the confirmation; default the first configured audience."""
    public_base_url: str = "http://127.0.0.1:8080"
    """Where ``serve`` is reachable from the outside; confirmation links start with it."""
    link_valid_hours: int = Field(default=72, ge=1)
    confirm_page_valid_minutes: int = Field(default=60, ge=1)
    """The confirm button of a link's page works this long after the page was shown (its CSRF token)."""
    allowed_origins: tuple[str, ...] = ()
    """Web origins (``https://www.firma.no``) whose pages may call ``/consents`` from a browser (CORS)."""
    thank_you_url: str | None = None
    """Where an HTML form post is redirected (303) after a sign-up; default: our own thank-you page."""
    sign_ups_per_ip: int = Field(default=10, ge=0)
    """Sign-ups accepted from one client IP per ``ip_window_minutes`` (0: no limit per IP)."""
    ip_window_minutes: int = Field(default=10, ge=1)
    confirmations_per_address: int = Field(default=3, ge=0)
    """Confirmation mails started for one address per ``address_window_hours`` (0: no limit)."""
    address_window_hours: int = Field(default=24, ge=1)
    client_ip_header: str | None = None
    """Behind a reverse proxy: the header it sets with the client's IP (``X-Forwarded-For``: its last
    entry, the one the proxy added, is used). Unset: the connecting address; never trust it unset."""


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


def _default_audiences() -> tuple[AudienceSettings, ...]:
    return (AudienceSettings(name="main", purposes=("newsletter", "offers", "partner_offers")),)


class Settings(BaseSettings):
    """The effective configuration. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="CONSENT_SYNC_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    mailchimp: MailchimpSettings = Field(default_factory=MailchimpSettings)
    audiences: tuple[AudienceSettings, ...] = Field(default_factory=_default_audiences)
    mapping: MappingSettings = Field(default_factory=MappingSettings)
    transactional: TransactionalSettings = Field(default_factory=TransactionalSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    repermission: RepermissionSettings = Field(default_factory=RepermissionSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    contacts: ContactSettings = Field(default_factory=ContactSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    consent_capture: ConsentCaptureSettings = Field(default_factory=ConsentCaptureSettings)
    preferences: PreferencesSettings = Field(default_factory=PreferencesSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (env_settings, init_settings)

    @field_validator("audiences")
    @classmethod
    def _unique_audiences(cls, value: tuple[AudienceSettings, ...]) -> tuple[AudienceSettings, ...]:
        names = [a.name for a in value]
        if len(names) != len(set(names)):
            raise ValueError("audience names must be unique")
        return value

    def audience(self, name: str) -> AudienceSettings:
        for audience in self.audiences:
            if audience.name == name:
                return audience
        known = ", ".join(a.name for a in self.audiences) or "none"
        raise ConfigError(f"audiences: no audience named {name!r} (configured: {known})")

    def is_sqlite(self) -> bool:
        return self.database.url.startswith("sqlite")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file, then the environment.

    The file is ``config_file``, else ``$CONSENT_SYNC_CONFIG``, else ``./consent-sync.toml`` if present.
    """
    path = _config_path(config_file)
    data = _read_toml(path) if path is not None else {}
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except SettingsError as exc:
        raise ConfigError(environment_problem(exc, os.environ)) from None
    _check_policy_references(settings)
    return settings


def suppression_key(settings: Settings) -> bytes:
    """The HMAC key for suppression hashes: from the environment, or a key file.

    On the embedded default (SQLite) a missing key file is created once with a random key, so a fresh
    machine works out of the box; elsewhere a missing key is a configuration error.
    """
    if settings.security.suppression_key is not None:
        return settings.security.suppression_key.get_secret_value().encode()
    path = settings.security.suppression_key_file
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode()
    if not settings.is_sqlite():
        raise ConfigError(
            f"security.suppression_key: not set; set CONSENT_SYNC_SECURITY__SUPPRESSION_KEY or create {path}"
        )
    path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode()


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as ``********`` (or ``null`` when unset)."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    for section, key in SECRET_KEYS:
        if data.get(section, {}).get(key) is not None:
            data[section][key] = "********"
    data["database"]["url"] = _password_masked(settings.database.url)
    return data


def _password_masked(url: str) -> str:
    """``url`` with the password of its user part, if any, shown as ``********``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))


def _config_path(config_file: Path | None) -> Path | None:
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"{config_file}: configuration file not found")
        return config_file
    from_env = os.environ.get(CONFIG_FILE_VARIABLE)
    if from_env:
        return _config_path(Path(from_env))
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, key in SECRET_KEYS:
        if key in data.get(section, {}):
            variable = f"CONSENT_SYNC_{section.upper()}__{key.upper()}"
            raise ConfigError(f"{path}: {section}.{key} is a secret; set it in the environment ({variable})")
    oidc = data.get("console", {}).get("oidc", {})
    if isinstance(oidc, dict) and "client_secret" in oidc:
        variable = "CONSENT_SYNC_CONSOLE__OIDC__CLIENT_SECRET"
        raise ConfigError(
            f"{path}: console.oidc.client_secret is a secret; set it in the environment ({variable})"
        )
    return data


def _describe(exc: ValidationError, path: Path | None) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    where = f"{path}: " if path is not None else ""
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}{key}: {message}{extra}"


def environment_problem(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """Name the variable pydantic-settings could not parse: complex values in the environment are JSON.

    Never shows the value (it may be a secret), only where JSON parsing stopped.
    """
    found = re.search(r'field "([^"]+)"', str(exc))
    field = found.group(1) if found else ""
    prefix = f"CONSENT_SYNC_{field.upper()}"
    names = [n for n in environ if n.upper() == prefix or n.upper().startswith(prefix + "__")]
    for name in sorted(names, key=lambda n: (not environ[n].lstrip().startswith(("[", "{")), n)):
        try:
            json.loads(environ[name])
        except ValueError as error:
            where = (
                f"{error.msg} at line {error.lineno} column {error.colno}"
                if isinstance(error, json.JSONDecodeError)
                else str(error)
            )
            return f"{name}: not valid JSON ({where}); lists and tables in the environment are JSON"
    return f"{prefix or 'CONSENT_SYNC_…'}: cannot be read from the environment ({exc})"


def _check_policy_references(settings: Settings) -> None:
    known = {p.name for p in settings.policy.purposes}
    for audience in settings.audiences:
        for purpose in audience.purposes:
            if purpose not in known:
                raise ConfigError(f"audiences.{audience.name}.purposes: unknown purpose {purpose!r}")
        for index, entry in enumerate(audience.interests):
            if entry.purpose not in known:
                where = f"audiences.{audience.name}.interests[{index}].purpose"
                raise ConfigError(f"{where}: unknown purpose {entry.purpose!r}")
        for purpose in audience.mailchimp_signup_purposes:
            found = settings.policy.purpose(purpose)
            if found is not None and found.explicit_only:
                raise ConfigError(
                    f"audiences.{audience.name}.mailchimp_signup_purposes: {purpose!r} is explicit_only; "
                    "only a Mailchimp interest mapped to it can grant it (audiences.*.interests)"
                )
