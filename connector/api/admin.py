"""The admin API under ``/admin``: resyncs and runs, explain, consents, relationships, objections, and
data-subject export and erasure. Bearer tokens with ``read`` or ``write`` scope; every call is audited."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from connector.api.admin_runs import RunRequest, RunWorker, queue_run, recent_runs, run_document
from connector.api.auth import reader, writer
from connector.api.deps import app_context, problem
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.explain import entitlement_document, explain_contact
from connector.services.objections import record_objection
from connector.services.relationships import RelationshipInput, add_relationship
from connector.services.subjects import erase_subject, export_subject

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem("No bearer token, or an unknown one."),
    403: problem("The token is read-only and this endpoint writes."),
}
INPUT_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: problem("No such contact or run."),
    422: problem("A field is invalid; `field` names it. Nothing was written."),
}
router = APIRouter(prefix="/admin", tags=["admin"], responses=INPUT_ERRORS)
Ctx = Annotated[AppContext, Depends(app_context)]
Reader = Annotated[Origin, Depends(reader)]
Writer = Annotated[Origin, Depends(writer)]


class SyncRequest(BaseModel):
    audience: str | None = Field(default=None, description="Audience name; default: the first configured.")
    contact: str | None = Field(default=None, description="Sync only this contact (e-mail).")
    full: bool = False
    allow_destructive: bool = False


class RunQueued(BaseModel):
    run_id: str
    status: str


class ConsentRequest(BaseModel):
    email: str
    purposes: list[str] = Field(min_length=1)
    channel: Channel = Channel.EMAIL
    action: ConsentAction
    occurred_at: datetime | None = None
    method: ConsentMethod = ConsentMethod.API
    notice_version: str | None = None
    ticked_by_person: bool = True
    ip: str | None = None
    source_ref: str | None = None


class RecordedIds(BaseModel):
    ids: list[str]


class RelationshipRequest(BaseModel):
    email: str
    kind: RelationshipKind
    started_at: datetime
    reference: str | None = None
    item: str | None = Field(
        default=None, description="What it concerns (a concert, a departure, a product)."
    )
    categories: list[str] = []
    service_date: datetime | None = None
    ended_at: datetime | None = None
    opt_out_offered: bool = False
    order_value: Decimal | None = None


class ObjectionRequest(BaseModel):
    email: str
    purpose: str | None = None
    channel: Channel | None = None
    reason: str | None = None
    occurred_at: datetime | None = None


class Erased(BaseModel):
    contact_id: str
    erased_at: datetime


@router.post("/sync", response_model=RunQueued, status_code=202)
def request_sync_run(body: SyncRequest, request: Request, ctx: Ctx, origin: Writer) -> RunQueued:
    """Queue a sync of one audience; it runs in the background. Poll ``GET /admin/runs/{id}``."""
    audience = body.audience or ctx.settings.audiences[0].name
    run = RunRequest(audience, body.contact, body.full, body.allow_destructive, origin.actor)
    run_id = queue_run(ctx, run)
    worker: RunWorker = request.app.state.run_worker
    worker.submit(run_id)
    return RunQueued(run_id=run_id, status="queued")


@router.get("/runs")
def list_runs(ctx: Ctx, _origin: Reader) -> dict[str, list[dict[str, Any]]]:
    """The latest admin sync requests and sync runs."""
    return recent_runs(ctx)


@router.get("/runs/{run_id}")
def get_run(run_id: str, ctx: Ctx, _origin: Reader) -> dict[str, Any]:
    """One run: the request, the sync run's counts and report, and progress by operation state."""
    found = run_document(ctx, run_id)
    if found is None:
        raise HTTPException(404, "no run with this id")
    return found


@router.get("/contacts/{email}/explain")
def explain(email: str, ctx: Ctx, _origin: Reader, at: date | None = None) -> dict[str, object]:
    """What may be sent to the contact, and why (P8); ``at`` explains as of the end of that day."""
    moment = datetime.combine(at, time.max, tzinfo=UTC) if at else None
    return entitlement_document(explain_contact(ctx, email, moment))


@router.post("/consents", response_model=RecordedIds, status_code=201)
def add_consent(body: ConsentRequest, ctx: Ctx, origin: Writer) -> RecordedIds:
    """Record a consent event per purpose (given, confirmed or withdrawn) with its evidence."""
    evidence = Evidence(
        occurred_at=body.occurred_at or ctx.now(),
        method=body.method,
        notice_version=body.notice_version,
        ticked_by_person=body.ticked_by_person,
        ip=body.ip,
        recorded_by=Actor.STAFF,
        source_ref=body.source_ref,
    )
    rows = record_consent(ctx, body.email, body.purposes, body.channel, body.action, evidence, origin)
    return RecordedIds(ids=[row.id for row in rows])


@router.post("/relationships", response_model=RecordedIds, status_code=201)
def add_customer_relationship(body: RelationshipRequest, ctx: Ctx, origin: Writer) -> RecordedIds:
    """Add (or update, by kind and reference) a customer relationship."""
    data = RelationshipInput(
        kind=body.kind,
        started_at=body.started_at,
        reference=body.reference,
        categories=frozenset(body.categories),
        service_date=body.service_date,
        ended_at=body.ended_at,
        opt_out_offered=body.opt_out_offered,
        order_value=body.order_value,
        item=body.item,
    )
    return RecordedIds(ids=[add_relationship(ctx, body.email, data, origin).id])


@router.post("/objections", response_model=RecordedIds, status_code=201)
def add_objection(body: ObjectionRequest, ctx: Ctx, origin: Writer) -> RecordedIds:
    """Record an objection to direct marketing (all, a purpose or a channel)."""
    row = record_objection(
        ctx,
        body.email,
        origin,
        occurred_at=body.occurred_at or ctx.now(),
        purpose=body.purpose,
        channel=body.channel,
        reason=body.reason,
    )
    return RecordedIds(ids=[row.id])


@router.get("/subjects/{email}/export")
def export(email: str, ctx: Ctx, _origin: Reader) -> dict[str, Any]:
    """Everything held about the person (Art. 15/20), as one JSON document."""
    return export_subject(ctx, email)


@router.post("/subjects/{email}/erase", response_model=Erased)
def erase(email: str, ctx: Ctx, origin: Writer) -> Erased:
    """Erase the person (Art. 17): data removed, suppression hash and tombstone kept."""
    tombstone = erase_subject(ctx, email, origin)
    return Erased(contact_id=tombstone.contact_id, erased_at=tombstone.erased_at)
