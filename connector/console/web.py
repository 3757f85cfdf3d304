"""``/console``: sign-in, the overview and the campaign guard; the other pages are included from their
modules (``contact_pages``, ``run_pages``, ``import_pages``)."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from connector.console import contact_pages, import_pages, notice_pages, oidc_pages, run_pages
from connector.console.chart import members_chart
from connector.console.overview import overview
from connector.console.pages import (
    HERE,
    Viewer,
    context_of,
    current_session,
    form_of,
    key_of,
    record,
    render,
    viewer,
)
from connector.console.sessions import COOKIE, csrf_ok, new_session, write_session
from connector.console.users import LoginRefusedError, sign_in
from connector.core.console_roles import Permission

router = APIRouter(prefix="/console", include_in_schema=False)
CSS = (HERE / "static" / "console.css").read_bytes()
SCRIPT = (HERE / "static" / "progress.js").read_bytes()


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/static/progress.js")
async def progress_script() -> Response:
    """The progress pages' one script: progressive enhancement (the pages work without it)."""
    headers = {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(SCRIPT, media_type="text/javascript", headers=headers)


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(
        request, current_session(request), "login.html", error=None, **oidc_pages.login_values(request)
    )


@router.post("/login")
async def login(request: Request) -> Response:
    session = current_session(request)
    form = await request.form()
    if not csrf_ok(key_of(request), session, str(form.get("csrf", ""))):
        return render(
            request,
            session,
            "login.html",
            status=403,
            error="security token; reload the page",
            **oidc_pages.login_values(request),
        )
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    client = request.client.host if request.client else "unknown"
    try:
        user = await run_in_threadpool(sign_in, context_of(request), name, password, client)
    except LoginRefusedError as exc:
        status = 429 if exc.limited else 401
        return render(
            request, session, "login.html", status=status, error=str(exc), **oidc_pages.login_values(request)
        )
    response = RedirectResponse("/console", status_code=303)
    write_session(response, request, key_of(request), new_session(user.name, session.lang))  # a new nonce
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
async def overview_page(request: Request) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    audiences = await run_in_threadpool(overview, who.ctx)
    waiting = import_pages.waiting_imports(who.ctx)
    for audience in audiences[:1] if waiting else []:
        audience.attention.append(f"imports waiting for apply: {waiting}")
    charts = {a.name: members_chart(a.chart, f"{a.name}: members per segment") for a in audiences}
    return render(request, who.session, "overview.html", user=who.user, audiences=audiences, charts=charts)


@router.post("/campaigns/check")
async def check_campaigns(request: Request) -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    await run_in_threadpool(_check_all, who)
    await run_in_threadpool(record, who, request, 303)
    return RedirectResponse("/console", status_code=303)


def _check_all(who: Viewer) -> None:
    from connector.sync.campaigns import check_audience_campaigns
    from connector.sync.connect import open_gateway

    with open_gateway(who.ctx.settings.mailchimp) as gateway:
        for audience in who.ctx.settings.audiences:
            check_audience_campaigns(who.ctx, gateway, audience.name)


for module in (contact_pages, run_pages, import_pages, notice_pages, oidc_pages):
    router.include_router(module.router)
