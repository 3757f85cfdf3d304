"""``/console/notices``: plan a transactional notice (who gets it, by which route, who is left out and why),
then send it; the same services as ``consent-sync notice`` and ``/admin/notices``."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from connector.console.pages import Viewer, form_of, record, render, viewer
from connector.core.console_roles import Permission
from connector.core.notice_spec import NoticeKind
from connector.errors import ConsentSyncError, InputError
from connector.services.context import Origin

router = APIRouter(prefix="/notices")
KINDS = [k.value for k in NoticeKind]


def _page(request: Request, who: Viewer, status: int = 200, **values: Any) -> Response:
    values.setdefault("planned", None)
    values.setdefault("sent", None)
    values.setdefault("error", None)
    values.setdefault("form", {})
    return render(request, who.session, "notices.html", status=status, user=who.user, kinds=KINDS, **values)


@router.get("")
async def notices_page(request: Request) -> Response:
    who = await viewer(request, Permission.NOTICES)
    if isinstance(who, Response):
        return who
    return _page(request, who)


def _plan(who: Viewer, form: dict[str, Any]) -> dict[str, Any]:
    from connector.core.notice_spec import NoticeSpec, NoticeTarget, NoticeTemplate
    from connector.services.notices import plan_document, plan_notice_now, record_notice

    notice_id = str(form.get("notice_id", "")).strip()
    kind = str(form.get("kind", ""))
    if not notice_id or kind not in KINDS:
        raise InputError("notice_id", "give the notice an id and choose what it is about")
    emails = tuple(e.strip() for e in str(form.get("emails", "")).splitlines() if e.strip())
    item = str(form.get("item", "")).strip() or None
    settings = who.ctx.settings
    spec = NoticeSpec(
        id=notice_id,
        kind=NoticeKind(kind),
        audience=settings.audiences[0].name,
        target=NoticeTarget(item=item, references=(), emails=emails),
        template=NoticeTemplate(
            None, str(form.get("subject", "")) or None, str(form.get("text", "")) or None, None
        ),
        from_email=settings.transactional.from_email or "",
        from_name=settings.transactional.from_name,
        merge_vars={},
    )
    planned = plan_notice_now(who.ctx, spec, who.ctx.now())
    record_notice(who.ctx, spec, planned, Origin(f"console:{who.user.name}", "console"))
    return plan_document(planned)


def _send(who: Viewer, form: dict[str, Any]) -> dict[str, object]:
    from connector.services import notice_sending

    confirmed = form.get("confirm") == "yes"
    with notice_sending.open_notice_sender(who.ctx.settings) as (sender, journey):
        report = notice_sending.send_notice(
            who.ctx, str(form.get("notice_id", "")), sender, journey, None, lambda _s, _n: confirmed
        )
    if report.status == "not confirmed":
        raise InputError("confirm", "this notice has many recipients: tick the confirmation and send again")
    return notice_sending.report_document(report)


async def _step(request: Request, work: Any, key: str) -> Response:
    who = await viewer(request, Permission.NOTICES)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    try:
        result = await run_in_threadpool(work, who, form)
    except ConsentSyncError as exc:
        await run_in_threadpool(record, who, request, 422)
        return _page(request, who, 422, error=str(exc), form=form)
    await run_in_threadpool(record, who, request, 200, f"notice={str(form.get('notice_id', ''))[:60]}")
    return _page(request, who, form=form, **{key: result})


@router.post("/plan")
async def plan(request: Request) -> Response:
    return await _step(request, _plan, "planned")


@router.post("/send")
async def send(request: Request) -> Response:
    return await _step(request, _send, "sent")
