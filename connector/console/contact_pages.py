"""``/console/contact``: find a person, read why (the policy's words), their timeline, what Mailchimp holds
beside what we want, and act: resync, record an objection, export, erase (typed confirmation)."""

import json
from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from connector.console.pages import Viewer, form_of, record, render, viewer
from connector.core.console_roles import Permission
from connector.errors import ConsentSyncError
from connector.services.context import Origin
from connector.store.engine import unit_of_work
from connector.store.sync_tables import MirrorMemberRow
from connector.store.tables import ContactRow

router = APIRouter(prefix="/contact")


def origin(who: Viewer) -> Origin:
    return Origin(actor=f"console:{who.user.name}", source="console")


def _email_of(who: Viewer, query: str) -> str | None:
    """The e-mail address of the contact ``query`` names (an address, or a customer id)."""
    text = query.strip()
    with unit_of_work(who.ctx.engine) as session:
        column = col(ContactRow.email) if "@" in text else col(ContactRow.external_id)
        value = text.lower() if "@" in text else text
        row = session.exec(select(ContactRow).where(column == value).limit(1)).first()
        return row.email if row is not None else None


def _details(who: Viewer, email: str) -> dict[str, Any]:
    from connector.services.explain import explain_contact
    from connector.services.subjects import export_subject
    from connector.sync.explain import describe
    from connector.sync.run import plan_audience

    explanation = explain_contact(who.ctx, email)
    exported = export_subject(who.ctx, email)
    timeline = [
        (
            str(e.get("occurred_at", e.get("recorded_at", ""))),
            f"consent {e.get('action')} · {e.get('purpose')}",
        )
        for e in exported["consent_events"]
    ]
    timeline += [
        (str(r.get("started_at", "")), f"relationship {r.get('kind')} {r.get('reference') or ''}".strip())
        for r in exported["relationships"]
    ]
    timeline += [
        (str(o.get("occurred_at", "")), f"objection {o.get('purpose') or 'all'}")
        for o in exported["objections"]
    ]
    timeline += [
        (str(h.get("occurred_at", "")), f"{h.get('action')} by {h.get('actor')} ({h.get('source')})")
        for h in exported["history"]
    ]
    timeline.sort()
    with unit_of_work(who.ctx.engine) as session:
        mirror = [
            {"list_id": m.list_id, "status": m.status, "tags": sorted(m.tags), "audience": m.audience}
            for m in session.exec(
                select(MirrorMemberRow).where(col(MirrorMemberRow.contact_id) == explanation.contact_id)
            ).all()
        ]
    desired = []
    for audience in who.ctx.settings.audiences:
        try:
            planned = plan_audience(who.ctx, audience.name, contact=email)
        except ConsentSyncError as exc:
            desired.append({"audience": audience.name, "status": "—", "tags": [], "changes": [str(exc)]})
            continue
        member = next((d for d in planned.desired.values() if d.contact_id == explanation.contact_id), None)
        desired.append(
            {
                "audience": audience.name,
                "status": member.status.value if member and member.status else "not a member",
                "tags": sorted(member.tags) if member else [],
                "changes": [describe(op) for op in planned.plan.operations],
            }
        )
    return {
        "email": email,
        "sentences": list(explanation.sentences),
        "timeline": timeline,
        "mirror": mirror,
        "desired": desired,
        "evidence": _evidence(exported) if who.may(Permission.EVIDENCE) else None,
    }


def _evidence(exported: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The evidence of every consent event and objection (privacy role): when, how, the notice shown,
    and the browser's IP address and user agent where the person acted in one."""

    def text(value: object) -> str:
        return str(value) if value not in (None, "") else "–"

    consents = [
        {
            "at": text(e.get("occurred_at"))[:19],
            "what": f"{e.get('action')} · {e.get('purpose')} ({e.get('channel')})",
            "how": f"{e.get('method')}, {e.get('source')}"
            + (f", {e['source_ref']}" if e.get("source_ref") else ""),
            "notice": text(e.get("notice_version")),
            "ip": text(e.get("ip")),
            "user_agent": text(e.get("user_agent")),
        }
        for e in exported["consent_events"]
    ]
    objections = [
        {
            "at": text(o.get("occurred_at"))[:19],
            "what": f"{o.get('purpose') or 'all marketing'}"
            + (f" ({o['channel']})" if o.get("channel") else ""),
            "how": text(o.get("source")) + (f", {o['reason']}" if o.get("reason") else ""),
            "notice": "–",
            "ip": text(o.get("ip")),
            "user_agent": text(o.get("user_agent")),
        }
        for o in exported["objections"]
    ]
    return {"consents": consents, "objections": objections}


@router.get("")
async def contact_page(request: Request, q: str = "") -> Response:
    who = await viewer(request, Permission.READ)
    if isinstance(who, Response):
        return who
    found: dict[str, Any] | None = None
    message = None
    if q.strip():
        email = await run_in_threadpool(_email_of, who, q)
        if email is None:
            message = "not_found"
        else:
            found = await run_in_threadpool(_details, who, email)
    return render(
        request,
        who.session,
        "contact.html",
        user=who.user,
        q=q,
        found=found,
        message=message,
        done=None,
        may=_may(who),
    )


def _may(who: Viewer) -> dict[str, bool]:
    return {p.value: who.may(p) for p in Permission}


async def _act(request: Request, permission: Permission, action: str) -> Response:
    who = await viewer(request, permission)
    if isinstance(who, Response):
        return who
    form = await form_of(request, who)
    if isinstance(form, Response):
        return form
    email = str(form.get("email", "")).strip()
    try:
        done = await run_in_threadpool(_ACTIONS[action], who, email, form)
    except ConsentSyncError as exc:
        await run_in_threadpool(record, who, request, 422)
        return render(request, who.session, "problem.html", status=422, user=who.user, message=str(exc))
    await run_in_threadpool(record, who, request, 200)
    found = await run_in_threadpool(_details, who, email) if action != "erase" else None
    return render(
        request,
        who.session,
        "contact.html",
        user=who.user,
        q=email,
        found=found,
        message=None,
        done=done,
        may=_may(who),
    )


def _resync(who: Viewer, email: str, _form: dict[str, Any]) -> str:
    from connector.sync.connect import open_gateway
    from connector.sync.run import sync_audience

    lines = []
    with open_gateway(who.ctx.settings.mailchimp) as gateway:
        for audience in who.ctx.settings.audiences:
            report = sync_audience(who.ctx, gateway, audience.name, contact=email)
            changes = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to change"
            lines.append(f"{audience.name}: {changes}; {report.applied.done} done")
    return "; ".join(lines)


def _object(who: Viewer, email: str, form: dict[str, Any]) -> str:
    from connector.services.objections import record_objection

    purpose = str(form.get("purpose", "")).strip() or None
    reason = str(form.get("reason", "")).strip() or None
    record_objection(who.ctx, email, origin(who), occurred_at=who.ctx.now(), purpose=purpose, reason=reason)
    return f"objection recorded ({purpose or 'all marketing'})"


def _erase(who: Viewer, email: str, form: dict[str, Any]) -> str:
    from connector.errors import InputError
    from connector.services.subjects import erase_subject

    if str(form.get("confirm", "")).strip().lower() != email.lower():
        raise InputError("confirm", "type the person's e-mail address exactly to erase; nothing was erased")
    erase_subject(who.ctx, email, origin(who))
    return "erased; Mailchimp is told at the next sync"


_ACTIONS = {"resync": _resync, "object": _object, "erase": _erase}


@router.post("/resync")
async def resync(request: Request) -> Response:
    return await _act(request, Permission.RESYNC, "resync")


@router.post("/object")
async def object_(request: Request) -> Response:
    return await _act(request, Permission.OBJECTION, "object")


@router.post("/erase")
async def erase(request: Request) -> Response:
    return await _act(request, Permission.ERASE, "erase")


@router.get("/export")
async def export(request: Request, email: str) -> Response:
    who = await viewer(request, Permission.EXPORT)
    if isinstance(who, Response):
        return who
    from connector.services.subjects import export_subject

    try:
        document = await run_in_threadpool(export_subject, who.ctx, email)
    except ConsentSyncError as exc:
        return render(request, who.session, "problem.html", status=404, user=who.user, message=str(exc))
    await run_in_threadpool(record, who, request, 200)
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="export.json"', "Cache-Control": "no-store"},
    )
