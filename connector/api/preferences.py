"""The self-service privacy page ``/me/{token}``: what we hold, what the person receives and why, choices.

Server-rendered (Jinja2), no script, every asset served by us (``/static/privacy.css``) under a strict
Content-Security-Policy; nothing cached, no referrer, no framing. Every form carries a CSRF token bound
to the link; every request counts against per-link and per-IP limits; a form body over
``preferences.max_body_bytes`` is refused unread. A bad, tampered or expired link gets one page that
reveals nothing and offers a fresh link by e-mail (to the stored address only). The token is in the
path, never in a log (``connector.logs`` redacts ``/me/<token>``; ``serve`` runs without access log).
"""

import json
from collections.abc import Mapping
from datetime import timedelta
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from connector.api import privacy_mail
from connector.api.csrf import button_token, button_token_is_valid
from connector.api.deps import app_context
from connector.api.privacy_text import negotiate, words
from connector.api.rate_limits import RateLimitedError, admit_fresh_link, admit_privacy_page, client_ip
from connector.core.wording import day
from connector.errors import InputError
from connector.services import preferences as service
from connector.services.contacts import checked_email, find_contact
from connector.services.context import AppContext
from connector.services.preference_links import LinkReading, current_key, read_token
from connector.services.preference_links import enabled as links_enabled
from connector.store.engine import unit_of_work

router = APIRouter(tags=["privacy page"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(app_context)]

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
FORM_VALID = timedelta(hours=2)
_PAGES = Environment(
    loader=PackageLoader("connector.api", "templates/privacy"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
_CSS = files("connector.api").joinpath("static/privacy.css").read_bytes()


class _RefusedError(Exception):
    def __init__(self, status: int, message_key: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.headers = dict(headers or {})


@router.get("/static/privacy.css")
def stylesheet() -> Response:
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(_CSS, media_type="text/css", headers=headers)


@router.get("/me/{token}", response_class=HTMLResponse)
async def privacy_page(token: str, request: Request, ctx: Ctx) -> Response:
    lang_asked = request.query_params.get("lang")
    try:
        reading = await _admitted(ctx, request, token)
    except _RefusedError as refused:
        return _problem(ctx, request, token, refused, lang_asked)
    if not reading.valid or reading.contact_id is None:
        return _invalid(ctx, request, token, lang_asked)
    view = await run_in_threadpool(service.page_view, ctx, reading.contact_id)
    if view is None:
        return _invalid(ctx, request, token, lang_asked)
    lang = negotiate(lang_asked, request.headers.get("accept-language", ""), view.locale)
    done = request.query_params.get("done", "")
    return _render(
        "page.html",
        lang,
        200,
        view=view,
        token=token,
        csrf=_csrf(ctx, token),
        done=done if done in _DONE else "",
        doi=service.double_opt_in_required(ctx),
        fields=_fields(view.document["contact"]),
        relationships=view.document["relationships"],
        objections=view.document["objections"],
        history=sorted(view.document["history"], key=lambda h: str(h["occurred_at"]), reverse=True),
        day=_day,
    )


_DONE = frozenset(
    {"done_withdrawn", "done_objected", "done_granted", "done_granted_doi", "done_no_mail", "done_nothing"}
)


@router.post("/me/{token}", response_class=HTMLResponse)
async def choose(token: str, request: Request, ctx: Ctx, background: BackgroundTasks) -> Response:
    """One choice of the page's forms (``action``): grant, withdraw, withdraw_all, object_all."""
    form: dict[str, list[str]] = {}
    try:
        form = await _form(ctx, request)
        reading = await _admitted(ctx, request, token)
        contact_id = _valid_contact(reading)
        if contact_id is None:
            return _invalid(ctx, request, token, _one(form, "lang"))
        _check_csrf(ctx, token, form)
        act = _act(ctx, request)
        action = _one(form, "action")
        lang = _lang(form)
        if action == "grant":
            outcome = await run_in_threadpool(service.grant, ctx, contact_id, form.get("choice", []), act)
            done = _granted(ctx, background, contact_id, outcome, lang)
        elif action == "withdraw":
            keys = form.get("choice", [])
            if not keys:
                raise _RefusedError(422, "tick_one")
            outcome = await run_in_threadpool(service.withdraw, ctx, contact_id, keys, act)
            done = "done_withdrawn" if outcome.changed else "done_nothing"
        elif action == "withdraw_all":
            outcome = await run_in_threadpool(service.withdraw, ctx, contact_id, None, act)
            done = "done_withdrawn" if outcome.changed else "done_nothing"
        elif action == "object_all":
            outcome = await run_in_threadpool(service.object_to_all, ctx, contact_id, act)
            done = "done_objected" if outcome.changed else "done_nothing"
        else:
            raise _RefusedError(422, "bad_choice")
    except _RefusedError as refused:
        return _problem(ctx, request, token, refused, _one(form, "lang"))
    except InputError as exc:
        key = "tick_one" if "tick at least one" in exc.reason else "bad_choice"
        return _problem(ctx, request, token, _RefusedError(422, key), _one(form, "lang"))
    location = f"/me/{token}?lang={lang}&done={done}#result"
    return Response(status_code=303, headers={**HEADERS, "Location": location})


def _granted(
    ctx: AppContext, background: BackgroundTasks, contact_id: str, outcome: service.Outcome, lang: str
) -> str:
    if not outcome.changed:
        return "done_nothing"
    if not service.double_opt_in_required(ctx):
        return "done_granted"
    email = service.contact_email(ctx, contact_id)
    if email is None or not privacy_mail.can_confirm(ctx):
        return "done_no_mail"
    background.add_task(privacy_mail.send_confirmation, ctx, email, outcome.consent_events, lang)
    return "done_granted_doi"


@router.get("/me/{token}/export.json")
async def download(token: str, request: Request, ctx: Ctx) -> Response:
    """Everything held, as one JSON file: the document of ``consent-sync subject export``."""
    try:
        reading = await _admitted(ctx, request, token)
    except _RefusedError as refused:
        return _problem(ctx, request, token, refused, request.query_params.get("lang"))
    contact_id = _valid_contact(reading)
    document = await run_in_threadpool(service.export, ctx, contact_id) if contact_id else None
    if document is None:
        return _invalid(ctx, request, token, request.query_params.get("lang"))
    headers = {**HEADERS, "Content-Disposition": 'attachment; filename="my-data.json"'}
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    return Response(body, media_type="application/json", headers=headers)


@router.post("/me/{token}/erase", response_class=HTMLResponse)
async def erase(token: str, request: Request, ctx: Ctx) -> Response:
    """Erasure in two steps: ``step=ask`` shows the second confirmation; ``step=confirm`` erases."""
    form: dict[str, list[str]] = {}
    try:
        form = await _form(ctx, request)
        reading = await _admitted(ctx, request, token)
        contact_id = _valid_contact(reading)
        if contact_id is None:
            return _invalid(ctx, request, token, _one(form, "lang"))
        _check_csrf(ctx, token, form)
        lang = _lang(form)
        step = _one(form, "step")
        if step == "ask":
            return _render("erase.html", lang, 200, token=token, csrf=_csrf(ctx, token))
        if step != "confirm":
            raise _RefusedError(422, "bad_choice")
        await run_in_threadpool(service.erase, ctx, contact_id)
    except _RefusedError as refused:
        return _problem(ctx, request, token, refused, _one(form, "lang"))
    return _render("erased.html", lang, 200)


@router.post("/me/{token}/fresh-link", response_class=HTMLResponse)
async def fresh_link(token: str, request: Request, ctx: Ctx, background: BackgroundTasks) -> Response:
    """A fresh link to the address typed, if we hold it; the answer is the same either way."""
    form: dict[str, list[str]] = {}
    try:
        form = await _form(ctx, request)
        await _admitted(ctx, request, token, reading=False)
        _check_csrf(ctx, token, form)
        lang = _lang(form)
        try:
            email = checked_email(_one(form, "email"), "email")
        except InputError:
            email = None
        routed = privacy_mail.can_mail(ctx)
        if email is not None and routed:
            ip = client_ip(request, ctx.settings.consent_capture)
            await run_in_threadpool(_mail_fresh_link, ctx, background, ip, email, lang)
    except _RefusedError as refused:
        return _problem(ctx, request, token, refused, _one(form, "lang"))
    return _render("sent.html", lang, 200, routed=routed)


def _mail_fresh_link(ctx: AppContext, background: BackgroundTasks, ip: str, email: str, lang: str) -> None:
    """Mail the stored address its current link, if we hold it. Held or not, the request counts against
    the IP and the typed address's daily limits, so that neither the answer nor the work done differs."""
    with unit_of_work(ctx.engine) as session:
        contact = find_contact(session, email)
        found = (contact.id, contact.email) if contact is not None and contact.email else None
    try:
        admit_fresh_link(ctx, ip, found[1] if found is not None else email)
    except RateLimitedError:
        return  # the same answer: a limit reached says nothing about the address either
    if found is not None:
        background.add_task(privacy_mail.send_fresh_link, ctx, found[0], found[1], lang)


async def _admitted(ctx: AppContext, request: Request, token: str, *, reading: bool = True) -> LinkReading:
    """Count the request against the IP and the link; what the token is."""
    if not links_enabled(ctx.settings):
        raise _RefusedError(404, "not_offered")
    ip = client_ip(request, ctx.settings.consent_capture)
    try:
        await run_in_threadpool(admit_privacy_page, ctx, ip, token[:400])
    except RateLimitedError as exc:
        raise _RefusedError(429, "rate_limited", {"Retry-After": str(exc.retry_after)}) from None
    if not reading:
        return LinkReading(None)
    return read_token(ctx.settings, token, ctx.now())


def _valid_contact(reading: LinkReading) -> str | None:
    return reading.contact_id if reading.valid else None


async def _form(ctx: AppContext, request: Request) -> dict[str, list[str]]:
    """The posted form (URL-encoded), refused unread past ``preferences.max_body_bytes``."""
    limit = ctx.settings.preferences.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _RefusedError(413, "too_large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _RefusedError(413, "too_large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise _RefusedError(415, "bad_choice")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=False, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise _RefusedError(422, "bad_choice") from None


def _one(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def _lang(form: Mapping[str, list[str]]) -> str:
    return negotiate(_one(form, "lang"), "", None)


def _csrf_key(ctx: AppContext) -> bytes:
    return b"privacy-csrf:" + current_key(ctx.settings)


def _csrf(ctx: AppContext, token: str) -> str:
    return button_token(_csrf_key(ctx), token, ctx.now(), FORM_VALID)


def _check_csrf(ctx: AppContext, token: str, form: Mapping[str, list[str]]) -> None:
    if not button_token_is_valid(_csrf_key(ctx), token, _one(form, "csrf_token"), ctx.now()):
        raise _RefusedError(403, "expired_form")


def _act(ctx: AppContext, request: Request) -> service.Act:
    agent = request.headers.get("user-agent", "")[:300] or None
    return service.Act(
        at=ctx.now(),
        notice_version=ctx.settings.preferences.notice_version,
        ip=client_ip(request, ctx.settings.consent_capture),
        user_agent=agent,
    )


_FIELDS = ("email", "first_name", "last_name", "phone", "locale", "external_id", "created_at")


def _fields(contact: Mapping[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for name in _FIELDS:
        value = contact.get(name)
        if value:
            shown.append((f"field_{name}", _day(value) if name == "created_at" else str(value)))
    return shown


def _day(value: object) -> str:
    text = str(value or "")
    return text[:10]


def _render(
    template: str, lang: str, status: int, headers: Mapping[str, str] | None = None, **values: object
) -> HTMLResponse:
    other = "en" if lang == "nb" else "nb"

    def t(key: str) -> str:
        return words(lang, key)

    def browser_evidence(record: Mapping[str, Any]) -> str:
        """The IP address and user agent a consent or objection was recorded from, or a dash."""
        parts = [f"{t(name)} {record[name]}" for name in ("ip", "user_agent") if record.get(name)]
        return "; ".join(parts) or "–"

    html = _PAGES.get_template(template).render(
        lang=lang, other=other, t=t, quote=quote, day_of=day, browser_evidence=browser_evidence, **values
    )
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def _invalid(ctx: AppContext, request: Request, token: str, lang_asked: str | None) -> HTMLResponse:
    lang = negotiate(lang_asked, request.headers.get("accept-language", ""), None)
    routed = privacy_mail.can_mail(ctx)
    return _render("invalid.html", lang, 404, token=token, csrf=_csrf(ctx, token), routed=routed)


def _problem(
    ctx: AppContext, request: Request, token: str, refused: _RefusedError, lang_asked: str | None
) -> HTMLResponse:
    lang = negotiate(lang_asked, request.headers.get("accept-language", ""), None)
    return _render(
        "problem.html", lang, refused.status, refused.headers, message=refused.message_key, token=token
    )
