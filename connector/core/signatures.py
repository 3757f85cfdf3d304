"""Secrets, signatures and tokens, computed and compared in constant time. Pure: time is an argument."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Scope = Literal["read", "write"]


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Mailchimp's ``v1``: hex HMAC-SHA256 of ``"<t>." + raw body``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def parse_signature_header(header: str) -> tuple[int, str] | None:
    """``t=<unix>,v1=<hex>`` as ``(t, v1)``; ``None`` if malformed."""
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not digest:
        return None
    return int(timestamp), digest


def signature_is_valid(header: str | None, secret: str, body: bytes, now: int, tolerance: int) -> bool:
    """The header is well formed, fresh within ``tolerance`` seconds, and signs ``body``."""
    parsed = parse_signature_header(header) if header else None
    if parsed is None:
        return False
    timestamp, digest = parsed
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), digest)


def token_digest(token: str) -> str:
    """How an admin token is stored: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AdminToken:
    name: str
    scope: Scope
    digest: str


class TokenConfigError(ValueError):
    """An ``admin.tokens`` entry that is not ``name:scope:sha256hex``."""


def parse_admin_tokens(text: str) -> tuple[AdminToken, ...]:
    """``name:scope:sha256hex`` entries, comma-separated."""
    return tuple(_admin_token(entry.strip()) for entry in text.split(",") if entry.strip())


def _admin_token(entry: str) -> AdminToken:
    name, scope, digest = [*entry.split(":"), "", "", ""][:3]
    if not name or scope not in ("read", "write") or len(digest) != 64:
        raise TokenConfigError("admin.tokens: each entry must be name:read|write:<64 hex sha256>")
    return AdminToken(name=name, scope="read" if scope == "read" else "write", digest=digest.lower())


def match_admin_token(presented: str, tokens: tuple[AdminToken, ...]) -> AdminToken | None:
    """The configured token whose digest matches; every entry is compared, in constant time each."""
    digest = token_digest(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(digest, token.digest):
            found = token
    return found
