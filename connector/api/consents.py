"""Consent capture for the company's sign-up forms: ``POST /consents`` and the confirmation link's page.

``POST /consents`` takes JSON or a plain HTML form; JSON clients get JSON, a form post a thank-you page
(or a redirect to ``consent_capture.thank_you_url``) and its problems on a page. The confirmation link
only shows a page: the person's press of its button (a ``POST`` with a CSRF token) confirms, so a mail
scanner that follows the link confirms nothing.
"""

from datetime import timedelta
from typing import Annotated, Literal, cast

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from connector.api.capture import (
    ask_mailchimp_to_confirm,
    confirm_by_link,
    confirmation_key,
    confirmation_link,
    link_purposes,
    read_link,
    record_sign_up,
)
from connector.api.csrf import button_token, button_token_is_valid
from connector.api.deps import app_context, problem
from connector.api.pages import page
from connector.api.rate_limits import RateLimitedError, admit_sign_up, client_ip
from connector.api.sign_up_forms import (
    FieldProblem,
    Posted,
    SignUp,
    SignUpInvalidError,
    as_field_problem,
    checked_sign_up,
    posted_sign_up,
    sign_up_request_body,
)
from connector.core.model import Actor, ConsentMethod
from connector.core.signatures import AdminToken, match_admin_token
from connector.errors import InputError
from connector.services.consents import Evidence, check_scope
from connector.services.contacts import checked_email
from connector.services.context import AppContext, Origin

router = APIRouter(prefix="/consents", tags=["consent capture"])
Ctx = Annotated[AppContext, Depends(app_context)]
Body = Annotated[Posted, Depends(posted_sign_up)]
INVALID_LINK = "This confirmation link is invalid or has expired. Nothing was confirmed."


class SignUpRecorded(BaseModel):
    consent_ids: list[str]
    confirmation: Literal["mailchimp", "link"]
    confirmation_url: str | None = Field(
        default=None,
        description=(
            "Link mode only, and only for a caller with a write-scope admin token (the company's back end): "
            "mail this to the person; it confirms this sign-up once."
        ),
    )


@router.post(
    "",
    response_model=SignUpRecorded,
    status_code=201,
    openapi_extra=sign_up_request_body(),
    responses={
        303: {"description": "An HTML form post, with `consent_capture.thank_you_url` set: go there."},
        422: problem("A field is invalid (e.g. the box was not ticked, or was pre-ticked)."),
        429: problem("Too many sign-ups from this client IP, or confirmation mails for this address."),
    },
)
def sign_up(request: Request, posted: Body, ctx: Ctx, background: BackgroundTasks) -> Response:
    """Record a requested consent per purpose and start its double opt-in (one confirmation).

    The body is a :class:`SignUp` as JSON, or the same fields as an HTML form.
    """
    html = _wants_html(request, posted)
    capture = ctx.settings.consent_capture
    try:
        body = checked_sign_up(posted)
        email = _checked(ctx, body)
        ip = client_ip(request, capture)
        admit_sign_up(ctx, ip, email)
        rows = record_sign_up(
            ctx, email, body.purposes, body.channel, _evidence(ctx, body, request, html), _origin(body)
        )
    except SignUpInvalidError as exc:
        return _refused(html, 422, exc.problems)
    except InputError as exc:
        return _refused(html, 422, [as_field_problem(exc)])
    except RateLimitedError as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        return _refused(html, 429, [FieldProblem(exc.field, exc.message)], headers)
    ids = [row.id for row in rows]
    if capture.confirmation == "link":
        url = confirmation_link(ctx, rows) if _is_back_end(request) else None
        recorded = SignUpRecorded(consent_ids=ids, confirmation="link", confirmation_url=url)
    else:
        background.add_task(ask_mailchimp_to_confirm, ctx, email)
        recorded = SignUpRecorded(consent_ids=ids, confirmation="mailchimp")
    if not html:
        return JSONResponse(recorded.model_dump(), status_code=201)
    if capture.thank_you_url:
        return RedirectResponse(capture.thank_you_url, status_code=303)
    return page("thanks.html", 201, title="Thank you")


def _is_back_end(request: Request) -> bool:
    """Whether the caller holds a write-scope admin token: only the company's own back end, which mails the
    link, may see it. Anyone else who saw it could confirm for an address that is not theirs.
    """
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    tokens = cast(tuple[AdminToken, ...], request.app.state.admin_tokens)
    token = match_admin_token(presented.strip(), tokens)
    return token is not None and token.scope == "write"


def _checked(ctx: AppContext, body: SignUp) -> str:
    """The normalised address, after the checks ``record_consent`` makes (so nothing is counted first)."""
    email = checked_email(body.email, "email")
    check_scope(ctx.settings.policy, body.purposes, body.channel)
    return email


def _evidence(ctx: AppContext, body: SignUp, request: Request, html: bool) -> Evidence:
    """The act's evidence; a browser's own form post gives its IP and user agent when the body does not."""
    now = ctx.now()
    ip = body.ip or (client_ip(request, ctx.settings.consent_capture) if html else None)
    agent = body.user_agent or (request.headers.get("user-agent", "")[:300] or None if html else None)
    return Evidence(
        occurred_at=now,
        method=ConsentMethod.FORM,
        notice_version=body.notice_version,
        ticked_by_person=True,
        ip=ip,
        user_agent=agent,
        recorded_by=Actor.PERSON,
        source_ref=body.form_id,
        double_opt_in_requested_at=now,
    )


def _origin(body: SignUp) -> Origin:
    return Origin(actor="person", source=f"form:{body.form_id or 'consent-api'}")


def _wants_html(request: Request, posted: Posted) -> bool:
    """A form post answers HTML, unless the caller asks for JSON (a script posting form data)."""
    accept = request.headers.get("accept", "")
    return posted.kind == "form" and "application/json" not in accept


def _refused(
    html: bool, status: int, problems: list[FieldProblem], headers: dict[str, str] | None = None
) -> Response:
    if html:
        title = "Please try again later" if status == 429 else "Please check the form"
        return page("problem.html", status, headers, title=title, errors=problems, back=status == 422)
    first = problems[0]
    return JSONResponse({"detail": first.message, "field": first.field}, status_code=status, headers=headers)


@router.get(
    "/confirm/{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "The link is invalid, expired, or its contact no longer exists."}},
)
def confirm_page(token: str, ctx: Ctx) -> HTMLResponse:
    """The page the confirmation e-mail links to: what would be confirmed, and a button. Confirms nothing."""
    link = read_link(ctx, token)
    purposes = link_purposes(ctx, link) if link is not None else None
    if purposes is None:
        return _invalid_link()
    valid = timedelta(minutes=ctx.settings.consent_capture.confirm_page_valid_minutes)
    form_token = button_token(_csrf_key(ctx), token, ctx.now(), valid)
    return page(
        "confirm.html",
        title="Confirm your subscription",
        purposes=purposes,
        action=token,
        csrf_token=form_token,
    )


@router.post(
    "/confirm/{token}",
    response_class=HTMLResponse,
    responses={
        403: {"description": "The page's form token is missing, expired, or for another link."},
        404: {"description": "The link is invalid, expired, or its contact no longer exists."},
    },
)
def confirm(token: str, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    """The person pressed the confirm button: their sign-up is confirmed (a repeat changes nothing)."""
    if read_link(ctx, token) is None:
        return _invalid_link()
    if not button_token_is_valid(_csrf_key(ctx), token, csrf_token, ctx.now()):
        message = "This page has expired. Please open the link in the e-mail again and press the button."
        problems = [FieldProblem(None, message)]
        return page("problem.html", 403, title="Please try again", errors=problems, back=False)
    confirmed = confirm_by_link(ctx, token)
    if confirmed is None:
        return _invalid_link()
    title = "Subscription confirmed" if confirmed.newly else "Already confirmed"
    return page("confirmed.html", title=title, purposes=confirmed.purposes, newly=confirmed.newly)


def _invalid_link() -> HTMLResponse:
    problems = [FieldProblem(None, INVALID_LINK)]
    return page("problem.html", 404, title="Link not valid", errors=problems, back=False)


def _csrf_key(ctx: AppContext) -> bytes:
    return b"csrf:" + confirmation_key(ctx)
