"""The confirm button's CSRF token: signed (itsdangerous), expiring, bound to one confirmation link.

The page a confirmation link shows carries the token in its form; the ``POST`` that confirms must return
it. A token is worth nothing for another link, after it expires, or without the key.
"""

import hashlib
import hmac
from datetime import datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer

SALT = "consent-sync.confirm-button"


def button_token(key: bytes, link_token: str, now: datetime, valid: timedelta) -> str:
    """The token the confirm page of ``link_token`` posts back; valid until ``now + valid``."""
    payload = {"link": _bound(link_token), "exp": int((now + valid).timestamp())}
    return str(URLSafeSerializer(key, salt=SALT).dumps(payload))


def button_token_is_valid(key: bytes, link_token: str, presented: str, now: datetime) -> bool:
    """``presented`` was made by :func:`button_token` for this link and has not expired."""
    try:
        payload = URLSafeSerializer(key, salt=SALT).loads(presented)
    except BadData:
        return False
    if not isinstance(payload, dict):
        return False
    bound, expires = payload.get("link"), payload.get("exp")
    if not isinstance(bound, str) or not isinstance(expires, int):
        return False
    return hmac.compare_digest(bound, _bound(link_token)) and now.timestamp() <= expires


def _bound(link_token: str) -> str:
    return hashlib.sha256(link_token.encode()).hexdigest()
