"""What every console page needs: the signed-in user, the role check, CSRF, rendering and the audit."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from connector.console.audit import audit
from connector.console.sessions import (
    Session,
    csrf_ok,
    csrf_token,
    new_session,
    read_session,
    session_key,
    write_session,
)
from connector.console.users import ConsoleUser, find_user
from connector.console.words import word
from connector.core.console_roles import Permission, allows
from connector.services.context import AppContext

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
SCRIPT_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": HEADERS["Content-Security-Policy"].replace(
        "default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';"
    ),
}
"""A progress page's: its one script (``/console/static/progress.js``, ours) and its reads of ``…/state``."""
CSRF_MESSAGE = (
    "The form's security token is missing or wrong, so nothing was changed. Reload the page and try again."
)


@dataclass(frozen=True, slots=True)
class Viewer:
    ctx: AppContext
    key: bytes
    session: Session
    user: ConsoleUser

    @property
    def lang(self) -> str:
        return self.session.lang

    def may(self, permission: Permission) -> bool:
        return allows(self.user.role, permission)


def context_of(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.ctx)


def key_of(request: Request) -> bytes:
    return session_key(context_of(request).suppression_key)


def current_session(request: Request) -> Session:
    found = read_session(request, key_of(request))
    lang = request.query_params.get("lang")
    session = found or new_session()
    if lang in ("nb", "en") and lang != session.lang:
        session = Session(session.nonce, session.user, lang)
    return session


async def viewer(request: Request, permission: Permission) -> Viewer | Response:
    """The signed-in user allowed ``permission``; else a redirect to sign in, or a 403 page."""
    ctx = context_of(request)
    session = current_session(request)
    user = await run_in_threadpool(find_user, ctx, session.user) if session.user else None
    if user is None:
        return RedirectResponse("/console/login", status_code=303)
    who = Viewer(ctx, key_of(request), session, user)
    if not who.may(permission):
        message = f"Your role ({user.role.value}) may not do this ({permission.value}); nothing was changed."
        return render(request, who.session, "problem.html", status=403, user=user, message=message)
    return who


async def form_of(request: Request, who: Viewer) -> dict[str, Any] | Response:
    """The posted form when its CSRF token is this session's; else a 403 page (nothing written)."""
    form = await request.form()
    values = {k: v for k, v in form.items()}
    if not csrf_ok(who.key, who.session, str(values.get("csrf", ""))):
        await run_in_threadpool(record, who, request, 403)
        return render(request, who.session, "problem.html", status=403, user=who.user, message=CSRF_MESSAGE)
    return values


def render(
    request: Request,
    session: Session,
    template: str,
    status: int = 200,
    *,
    scripts: bool = False,
    **values: Any,
) -> HTMLResponse:
    """The page; ``scripts``: it loads our progress script (the CSP allows scripts from us, only then)."""
    key = key_of(request)
    lang = session.lang

    def t(name: str) -> str:
        return word(name, lang)

    values.setdefault("user", None)
    html = TEMPLATES.get_template(template).render(
        t=t, lang=lang, csrf=csrf_token(key, session), path=request.url.path, scripts=scripts, **values
    )
    response = HTMLResponse(html, status_code=status, headers=SCRIPT_HEADERS if scripts else HEADERS)
    write_session(response, request, key, session)
    return response


def record(who: Viewer, request: Request, status: int, note: str = "") -> None:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    audit(who.ctx, who.user.name, who.user.role.value, request.method, f"{route} {note}".strip(), status)
