"""The console's session: a signed cookie (itsdangerous) naming the user and a random nonce, and the CSRF
token every form carries (an HMAC of that nonce, so it is worth nothing in another session).

The cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` whenever the request came over HTTPS (as
uvicorn reports it, ``X-Forwarded-Proto`` from a trusted proxy included). It expires after 12 hours.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "consent_sync_console"
MAX_AGE = 12 * 3600
_SALT = "consent-sync.console-session"


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    user: str | None = None
    lang: str = "nb"


def session_key(suppression_key: bytes) -> bytes:
    return hmac.new(suppression_key, b"consent-sync console session", hashlib.sha256).digest()


def read_session(request: Request, key: bytes) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = URLSafeTimedSerializer(key, salt=_SALT).loads(raw, max_age=MAX_AGE)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None
    user, lang = data.get("u"), data.get("l")
    return Session(data["n"], user if isinstance(user, str) else None, lang if lang in ("nb", "en") else "nb")


def new_session(user: str | None = None, lang: str = "nb") -> Session:
    return Session(secrets.token_urlsafe(18), user, lang)


def write_session(response: Response, request: Request, key: bytes, session: Session) -> None:
    value = URLSafeTimedSerializer(key, salt=_SALT).dumps(
        {"n": session.nonce, "u": session.user, "l": session.lang}
    )
    response.set_cookie(
        COOKIE,
        str(value),
        max_age=MAX_AGE,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def csrf_token(key: bytes, session: Session) -> str:
    return hmac.new(key, f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, session: Session | None, presented: str | None) -> bool:
    if session is None or not presented:
        return False
    return hmac.compare_digest(csrf_token(key, session), presented)
