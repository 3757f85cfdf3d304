"""The personal privacy-page link ``<public url>/me/<token>``: signed (itsdangerous), expiring, rotatable.

The token is the contact id and an expiry (a day number), signed with ``security.preferences_key``;
links signed with one of ``security.preferences_previous_keys`` still verify until they expire, so a
key can be rotated without breaking links already mailed. New links are always signed with the current
key.

Stable between syncs: the link travels to Mailchimp as a merge field, so re-issuing a new token at every
sync would update every member at every sync. The expiry is therefore rounded *up* to the end of a period
(``preferences.link_period_days``): a link issued at any moment of a period is the same string, and it
still works at least ``link_valid_days`` after it was mailed. The merge field of a member changes once a
period (and once when the key is rotated), never at an ordinary sync.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer

from connector.errors import ConfigError
from connector.settings import AudienceSettings, Settings

SALT = "consent-sync.preferences-link"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LinkReading:
    """What a presented token is: ``contact_id`` when it is ours; ``expired`` when ours but too old."""

    contact_id: str | None
    expired: bool = False

    @property
    def valid(self) -> bool:
        return self.contact_id is not None and not self.expired


INVALID = LinkReading(None)


def enabled(settings: Settings) -> bool:
    """Whether personal links exist (a key is configured)."""
    security = settings.security
    return security.preferences_key is not None or security.preferences_key_file is not None


def _keys(settings: Settings) -> list[bytes]:
    """Verification keys, oldest first: itsdangerous signs with the last one and accepts all."""
    previous = settings.security.preferences_previous_keys
    older = [k.strip() for k in previous.get_secret_value().split(",")] if previous else []
    return [k.encode() for k in older if k] + [current_key(settings)]


def current_key(settings: Settings) -> bytes:
    """The key new links are signed with: ``security.preferences_key``, else its key file."""
    security = settings.security
    if security.preferences_key is not None:
        return security.preferences_key.get_secret_value().encode()
    path = security.preferences_key_file
    if path is not None and path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key.encode()
    raise ConfigError(
        "security.preferences_key: needed for the privacy page links; "
        "set CONSENT_SYNC_SECURITY__PREFERENCES_KEY (or security.preferences_key_file)"
    )


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(_keys(settings), salt=SALT)


def expiry_day(settings: Settings, now: datetime) -> int:
    """The day number the link issued at ``now`` expires after: ``now + valid`` rounded up to a period."""
    prefs = settings.preferences
    earliest = (now - _EPOCH) // timedelta(days=1) + prefs.link_valid_days
    period = prefs.link_period_days
    return -(-earliest // period) * period


def issue_token(settings: Settings, contact_id: str, now: datetime) -> str:
    """The contact's token as of ``now`` (the same string throughout a period)."""
    return str(_serializer(settings).dumps([contact_id, expiry_day(settings, now)]))


def read_token(settings: Settings, token: str, now: datetime) -> LinkReading:
    """What ``token`` is as of ``now``; never raises for a bad token."""
    if len(token) > 400:
        return INVALID
    try:
        payload = _serializer(settings).loads(token)
    except BadData:
        return INVALID
    if not (isinstance(payload, list) and len(payload) == 2):
        return INVALID
    contact_id, day = payload
    if not isinstance(contact_id, str) or not isinstance(day, int) or isinstance(day, bool):
        return INVALID
    today = (now - _EPOCH) // timedelta(days=1)
    return LinkReading(contact_id, expired=today > day)


def base_url(settings: Settings) -> str:
    return (settings.preferences.public_url or settings.consent_capture.public_base_url).rstrip("/")


def link_url(settings: Settings, contact_id: str, now: datetime) -> str:
    """The contact's personal link as of ``now``."""
    return f"{base_url(settings)}/me/{issue_token(settings, contact_id, now)}"


def link_maker(settings: Settings, now: datetime) -> "LinkMaker":
    """Links for many contacts as of one moment: what a sync uses, once per member.

    The tokens are exactly :func:`issue_token`'s (itsdangerous' compact JSON, URL-safe base64 and
    HMAC-SHA1 under the salted key); only the work done once per call there is done once here: the key
    derivation and the keyed MAC, copied per contact (a test holds the two equal).
    """
    signer = _serializer(settings).make_signer()
    mac = hmac.new(signer.derive_key(), digestmod=hashlib.sha1)
    return LinkMaker(base_url(settings), mac, expiry_day(settings, now))


@dataclass(frozen=True, slots=True)
class LinkMaker:
    base: str
    mac: "hmac.HMAC"
    day: int

    def __call__(self, contact_id: str) -> str:
        payload = _b64(json.dumps([contact_id, self.day], separators=(",", ":")).encode())
        keyed = self.mac.copy()
        keyed.update(payload)
        return f"{self.base}/me/{payload.decode()}.{_b64(keyed.digest()).decode()}"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


PREFS_FIELD = "prefs_url"
"""The pseudo contact field the link is carried in (a merge field's source, never a column)."""
PREFS_MARK = "merge-field:prefs"
"""Remembered with an audience's segment ids once its link merge field exists."""


def synced_merge_fields(settings: Settings, audience: AudienceSettings) -> dict[str, str]:
    """Merge tag → contact field of what sync writes: the audience's own and, with links, the link's."""
    fields = dict(audience.merge_fields)
    if enabled(settings):
        fields[settings.preferences.merge_field] = PREFS_FIELD
    return fields
