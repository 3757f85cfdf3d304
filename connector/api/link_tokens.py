"""Signed, expiring tokens (the confirmation links): ``itsdangerous``, with the expiry in the payload.

The signer is HMAC-SHA256 keyed by the key itself (no key derivation), so a token is
``<base64url JSON>.<base64url HMAC-SHA256>``: the format the links had before itsdangerous signed them,
and links already sent stay valid. The expiry is ``exp`` (Unix seconds) checked against the caller's
clock, not itsdangerous's timestamp (the clock is an argument, as everywhere in the connector).
"""

import hashlib

from itsdangerous import BadData, URLSafeSerializer


def _serializer(key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(key, signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256})


def sign_token(key: bytes, payload: dict[str, object]) -> str:
    """A URL-safe ``<payload>.<mac>`` token."""
    return str(_serializer(key).dumps(payload))


def read_token(key: bytes, token: str, now: int) -> dict[str, object] | None:
    """The payload of a token signed with ``key`` whose ``exp`` is not past; ``None`` otherwise."""
    try:
        payload = _serializer(key).loads(token)
    except BadData:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int) or payload["exp"] < now:
        return None
    return payload
