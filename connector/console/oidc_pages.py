"""``/console/login/oidc``: sign in through the company's identity provider (``[console.oidc]``).

The start sets a signed cookie (10 minutes, ``SameSite=Lax`` so that it comes back with the provider's
redirect, path ``/console/login/oidc``) holding the state, nonce and PKCE verifier; the callback checks
them, lets :mod:`connector.console.oidc` verify the ID token, and signs the user in. It answers with a
page that moves on to the console itself: the session cookie is ``SameSite=Strict``, which a browser
would not send on a redirect that began at the provider's site.
"""

from typing import Any

from fastapi import APIRouter, Request
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from connector.console import oidc
from connector.console.pages import context_of, current_session, key_of, render
from connector.console.sessions import new_session, write_session
from connector.console.users import LoginRefusedError, sign_in_by_identity_provider
from connector.settings import OidcSettings

router = APIRouter(prefix="/login/oidc")
COOKIE = "consent_sync_oidc"
MAX_AGE = 600
_SALT = "consent-sync.console-oidc"
_PATH = "/console/login/oidc"


def offer(request: Request) -> str | None:
    """What the sign-in page offers: ``ready``, ``missing`` (configured, extra not installed), or None."""
    if context_of(request).settings.console.oidc is None:
        return None
    return "ready" if oidc.available() else "missing"


def login_values(request: Request) -> dict[str, Any]:
    """What the sign-in page needs to offer single sign-on (or say why it cannot)."""
    settings = _settings(request)
    label = settings.button_label if settings is not None else ""
    return {"oidc": offer(request), "oidc_label": label, "oidc_missing": oidc.EXTRA_MISSING}


def _settings(request: Request) -> OidcSettings | None:
    return context_of(request).settings.console.oidc


def _redirect_url(request: Request, settings: OidcSettings) -> str:
    return settings.redirect_url or str(request.base_url).rstrip("/") + f"{_PATH}/callback"


def _refused(request: Request, status: int, message: str) -> Response:
    session = current_session(request)
    response = render(request, session, "login.html", status=status, error=message, **login_values(request))
    response.delete_cookie(COOKIE, path=_PATH)
    return response


@router.get("")
async def start(request: Request) -> Response:
    settings = _settings(request)
    if settings is None:
        return _refused(request, 404, "single sign-on is not configured here")
    if not oidc.available():
        return _refused(request, 503, oidc.EXTRA_MISSING)
    try:
        url, pending = await run_in_threadpool(oidc.begin, settings, _redirect_url(request, settings))
    except oidc.OidcError as exc:
        return _refused(request, 502, str(exc))
    response = RedirectResponse(url, status_code=303)
    value = URLSafeTimedSerializer(key_of(request), salt=_SALT).dumps(pending.document())
    response.set_cookie(
        COOKIE,
        str(value),
        max_age=MAX_AGE,
        path=_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    settings = _settings(request)
    if settings is None:
        return _refused(request, 404, "single sign-on is not configured here")
    if not oidc.available():
        return _refused(request, 503, oidc.EXTRA_MISSING)
    pending = _pending(request)
    if pending is None:
        return _refused(request, 400, "the sign-in took too long or did not start here; try again")
    if error or not code:
        return _refused(request, 401, "the identity provider did not sign you in; nothing was changed")
    ctx = context_of(request)
    try:
        claims = await run_in_threadpool(
            oidc.finish, settings, _redirect_url(request, settings), pending, code, state
        )
        name, role = oidc.user_and_role(settings, claims)
        user = await run_in_threadpool(sign_in_by_identity_provider, ctx, name, role, settings)
    except oidc.OidcError as exc:
        return _refused(request, 401, str(exc))
    except LoginRefusedError as exc:
        return _refused(request, 403, str(exc))
    session = new_session(user.name, current_session(request).lang)
    response = render(request, session, "signed_in.html", user=user)
    write_session(response, request, key_of(request), session)
    response.delete_cookie(COOKIE, path=_PATH)
    return response


def _pending(request: Request) -> oidc.Pending | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = URLSafeTimedSerializer(key_of(request), salt=_SALT).loads(raw, max_age=MAX_AGE)
    except BadData:
        return None
    return oidc.Pending.of(data)
