"""Consent capture for the company's sign-up forms: ``POST /consents`` and the confirmation link."""

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException
from pydantic import BaseModel, Field

from connector.api.capture import ask_mailchimp_to_confirm, confirm_by_link, confirmation_link, record_sign_up
from connector.api.deps import app_context, problem
from connector.core.model import Actor, Channel, ConsentMethod
from connector.errors import InputError
from connector.services.consents import Evidence
from connector.services.context import AppContext, Origin

router = APIRouter(prefix="/consents", tags=["consent capture"])
Ctx = Annotated[AppContext, Depends(app_context)]
TICKED = frozenset({"on", "true", "yes", "1", "checked"})


class SignUp(BaseModel):
    """A sign-up as the form submitted it. ``checkbox`` is the consent box's value exactly as posted
    (absent when not ticked); ``checkbox_prechecked`` says whether the form showed it ticked already."""

    email: str
    purposes: list[str] = Field(min_length=1)
    channel: Channel = Channel.EMAIL
    notice_version: str = Field(min_length=1, max_length=100)
    checkbox: str | None = None
    checkbox_prechecked: bool = False
    form_id: str | None = Field(default=None, max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class SignUpRecorded(BaseModel):
    consent_ids: list[str]
    confirmation: Literal["mailchimp", "link"]
    confirmation_url: str | None = Field(
        default=None, description="Link mode only: mail this to the person; it confirms this sign-up once."
    )


class Confirmed(BaseModel):
    purposes: list[str]


@router.post(
    "",
    response_model=SignUpRecorded,
    status_code=201,
    responses={422: problem("A field is invalid (e.g. the box was not ticked, or was pre-ticked).")},
)
def sign_up(body: SignUp, ctx: Ctx, background: BackgroundTasks) -> SignUpRecorded:
    """Record a requested consent per purpose and start its double opt-in (one confirmation)."""
    _check_tick(body)
    now = ctx.now()
    evidence = Evidence(
        occurred_at=now,
        method=ConsentMethod.FORM,
        notice_version=body.notice_version,
        ticked_by_person=True,
        ip=body.ip,
        user_agent=body.user_agent,
        recorded_by=Actor.PERSON,
        source_ref=body.form_id,
        double_opt_in_requested_at=now,
    )
    origin = Origin(actor="person", source=f"form:{body.form_id or 'consent-api'}")
    rows = record_sign_up(ctx, body.email, body.purposes, body.channel, evidence, origin)
    mode = ctx.settings.consent_capture.confirmation
    if mode == "link":
        url = confirmation_link(ctx, rows)
        return SignUpRecorded(consent_ids=[r.id for r in rows], confirmation=mode, confirmation_url=url)
    email = body.email.strip().lower()
    background.add_task(ask_mailchimp_to_confirm, ctx, email)
    return SignUpRecorded(consent_ids=[r.id for r in rows], confirmation=mode)


def _check_tick(body: SignUp) -> None:
    if body.checkbox_prechecked:
        raise InputError("checkbox_prechecked", "a pre-ticked box is not consent; nothing was recorded")
    if body.checkbox is None or body.checkbox.strip().lower() not in TICKED:
        raise InputError("checkbox", "the consent box was not ticked by the person; nothing was recorded")


@router.get(
    "/confirm/{token}",
    response_model=Confirmed,
    responses={404: problem("The link is invalid, expired, or its contact no longer exists.")},
)
def confirm(token: str, ctx: Ctx) -> Confirmed:
    """The person clicked our confirmation link: their sign-up is confirmed (a repeat click is harmless)."""
    purposes = confirm_by_link(ctx, token)
    if purposes is None:
        raise HTTPException(404, "this confirmation link is invalid or has expired")
    return Confirmed(purposes=list(purposes))
