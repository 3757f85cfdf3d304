"""The admin API's notices: ``POST /admin/notices/{id}/plan``, ``POST /admin/notices/{id}/send`` and
``GET /admin/notices/{id}``, authenticated like every ``/admin`` route (bearer token, audited)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from connector.api.auth import reader, writer
from connector.api.deps import app_context
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate, channels_of
from connector.services import notice_sending
from connector.services.context import AppContext, Origin
from connector.services.notices import (
    notice_status,
    plan_document,
    plan_notice_now,
    record_notice,
    stored_spec,
)

router = APIRouter(prefix="/admin", tags=["admin", "notices"])
Ctx = Annotated[AppContext, Depends(app_context)]
Reader = Annotated[Origin, Depends(reader)]
Writer = Annotated[Origin, Depends(writer)]


class NoticeRequest(BaseModel):
    """A notice: omit everything to plan the recorded notice of this id again."""

    kind: NoticeKind | None = Field(default=None, description="A service message kind; never marketing.")
    item: str | None = None
    references: list[str] = []
    emails: list[str] = []
    template_name: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    merge_vars: dict[str, str] = {}
    audience: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    channel: str = Field(default="email", description="email, sms (mobile numbers on record) or both.")
    sms_text: str | None = Field(default=None, description="The SMS's text; default: the e-mail's text.")


class SendRequest(BaseModel):
    confirm: bool = Field(default=False, description="Needed above transactional.confirm_above recipients.")


@router.post("/notices/{notice_id}/plan")
def plan_notice_route(notice_id: str, body: NoticeRequest, ctx: Ctx, origin: Writer) -> dict[str, Any]:
    """Plan (and record) the notice: recipients with route and why, who is left out and why, calls."""
    spec = stored_spec(ctx, notice_id)[0] if body.kind is None else _spec(ctx, notice_id, body)
    planned = plan_notice_now(ctx, spec, ctx.now())
    record_notice(ctx, spec, planned, origin)
    return plan_document(planned)


@router.post("/notices/{notice_id}/send")
def send_notice_route(notice_id: str, body: SendRequest, ctx: Ctx, _origin: Writer) -> dict[str, object]:
    """Send what is left of the notice (each recipient at most once); answers when done."""
    asked: list[int] = []

    def confirm(_spec: NoticeSpec, remaining: int) -> bool:
        asked.append(remaining)
        return body.confirm

    with notice_sending.open_notice_sender(ctx.settings) as (sender, journey):
        report = notice_sending.send_notice(ctx, notice_id, sender, journey, None, confirm)
    if report.status == "not confirmed":
        raise HTTPException(409, f"{asked[0]} recipients: send again with confirm=true")
    return notice_sending.report_document(report)


@router.get("/notices/{notice_id}")
def notice_status_route(notice_id: str, ctx: Ctx, _origin: Reader) -> dict[str, Any]:
    """Per recipient: delivered, queued, rejected (why), bounced…; and totals."""
    status = notice_status(ctx, notice_id)
    return {
        "notice_id": status.notice_id,
        "kind": status.kind,
        "status": status.status,
        "totals": status.totals,
        "recipients": status.recipients,
    }


def _spec(ctx: AppContext, notice_id: str, body: NoticeRequest) -> NoticeSpec:
    assert body.kind is not None
    settings = ctx.settings
    return NoticeSpec(
        id=notice_id,
        kind=body.kind,
        audience=settings.audience(body.audience).name if body.audience else settings.audiences[0].name,
        target=NoticeTarget(item=body.item, references=tuple(body.references), emails=tuple(body.emails)),
        template=NoticeTemplate(body.template_name, body.subject, body.text, body.html),
        from_email=body.from_email or settings.transactional.from_email or "",
        from_name=body.from_name or settings.transactional.from_name,
        merge_vars=dict(body.merge_vars),
        channels=channels_of(body.channel),
        sms_text=body.sms_text,
    )
