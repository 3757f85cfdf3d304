"""One sync run of one audience: lock → load → decide → build → diff → guard → persist → apply → record.

A run left ``applying`` by a crash, a shutdown or exhausted retries is resumed from its persisted operations
before anything is planned. A run Mailchimp refuses outright (a fatal answer such as 401 for a wrong key or
data centre) ends ``failed`` with the reason; the next sync plans afresh against the mirror, which holds only
what Mailchimp confirmed.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlmodel import col

from connector.collector import collector_paused
from connector.core.desired import AudienceMapping, DesiredMember, build
from connector.core.model import Entitlement
from connector.core.plan import Plan, diff, estimate_calls
from connector.core.policy import decide, review_at
from connector.core.safety import SafetyReport, check, opt_out_plan
from connector.errors import FatalMailchimpError, PlanRefusedError
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.context import AppContext
from connector.services.preference_links import enabled as links_enabled
from connector.services.preference_links import (
    expiry_day,
    link_maker,
    synced_merge_fields,
)
from connector.settings import AudienceSettings, Settings
from connector.store.engine import unit_of_work
from connector.store.mirror_counts import mirror_counts
from connector.store.sync_tables import AudienceStateRow, PlanOperationRow, SyncRunRow
from connector.sync.apply import Applier, ApplyOptions, ApplyReport, Progress, Step, apply_run
from connector.sync.audience import AudienceTarget, ensure_audience
from connector.sync.binding import kept_out_after_move, require_bound
from connector.sync.erasures import purge_confirmed_erasures, record_untouched_erasures
from connector.sync.load import RunInputs, load_inputs
from connector.sync.lock import audience_lock
from connector.sync.progress import SyncProgress
from connector.sync.repermission_answers import held_members
from connector.sync.rows import REVIEW_UPDATE, profile, send_status
from connector.sync.stored_plan import encode
from connector.sync.stream import run_streamed, start_run, streaming
from connector.sync.timings import RunTimings

log = structlog.get_logger(__name__)

ProgressStart = Callable[[int], Progress]
"""Given the number of calls a run will make, the callback to advance per call."""


@dataclass(frozen=True, slots=True)
class PlannedSync:
    plan: Plan
    safety: SafetyReport
    desired: dict[str, DesiredMember]
    inputs: RunInputs
    entitlements: dict[str, Entitlement]
    timings: RunTimings = field(default_factory=RunTimings)
    """Wall and CPU time of loading, deciding, building, diffing and judging."""

    @property
    def emails(self) -> dict[str, str]:
        known = {k: m.email for k, m in self.inputs.mirror.items() if m.email}
        return known | {k: d.email for k, d in self.desired.items()}


@dataclass(frozen=True, slots=True)
class SyncReport:
    run_id: str
    audience: str
    resumed: bool
    counts: dict[str, int]
    applied: ApplyReport = field(default_factory=ApplyReport)
    timings: RunTimings = field(default_factory=RunTimings)
    """Wall and CPU time per phase: planning, persisting, each call group, recording, finishing."""

    def document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "audience": self.audience,
            "resumed": self.resumed,
            "counts": self.counts,
            "calls": self.applied.calls,
            "done": self.applied.done,
            "rejected": self.applied.rejected,
            "opted_out_in_mailchimp": self.applied.opted_out,
            "rejections": self.applied.rejections[:50],
        }


def apply_options(settings: Settings) -> ApplyOptions:
    return ApplyOptions(
        batch_size=settings.sync.batch_size,
        connections=settings.mailchimp.max_connections,
        batch_jobs_above=settings.sync.batch_jobs_above,
    )


def mapping_for(settings: Settings, audience: AudienceSettings) -> AudienceMapping:
    return AudienceMapping(
        name=audience.name,
        purposes=audience.purposes,
        merge_fields=tuple(sorted(synced_merge_fields(settings, audience).items())),
        tag_prefix=settings.mapping.tag_prefix,
        mode=audience.mode or settings.mapping.mode,
        on_no_entitlement=settings.mapping.on_no_entitlement,
        interests=tuple((i.interest_id, i.purpose) for i in audience.interests if i.interest_id),
    )


def plan_audience(
    ctx: AppContext,
    name: str,
    *,
    full: bool = False,
    contact: str | None = None,
    allow_destructive: bool = False,
) -> PlannedSync:
    """Load, decide, build and diff one audience; judge the plan. Sends nothing anywhere.

    It runs with the cyclic collector paused (``collector_paused``).
    """
    audience = ctx.settings.audience(name)
    require_bound(ctx, audience)
    mapping = mapping_for(ctx.settings, audience)
    now = ctx.now()
    timings = RunTimings()
    full = full or (contact is None and _links_rolled_over(ctx, name, now))
    with collector_paused():
        with timings.timed("load"), unit_of_work(ctx.engine) as session:
            inputs = load_inputs(
                session, ctx.settings, name, ctx.suppression_key, now, full=full, email=contact
            )
            held = held_members(session, name)
        with timings.timed("decide"):
            entitlements = {cid: decide(f, ctx.settings.policy, now) for cid, f in inputs.facts.items()}
        with timings.timed("desire"):
            desired: dict[str, DesiredMember] = {}
            links = link_maker(ctx.settings, now) if links_enabled(ctx.settings) else None
            for row in inputs.contacts:
                member = build(profile(row, audience, links), entitlements[row.id], mapping)
                desired[member.subscriber_hash] = kept_out_after_move(
                    member, inputs.opted_out_before, inputs.mirror
                )
        with timings.timed("diff"):
            plan = diff(desired, inputs.mirror, mapping, inputs.managed, inputs.erasures, held)
        with timings.timed("guard"):
            safety = check(
                plan,
                desired,
                inputs.mirror,
                mapping,
                max_fraction=ctx.settings.sync.max_destructive_fraction,
                floor=ctx.settings.sync.destructive_floor,
                allow_destructive=allow_destructive,
                audience_size=inputs.audience_size,
            )
    return PlannedSync(plan, safety, desired, inputs, entitlements, timings)


def _links_rolled_over(ctx: AppContext, name: str, now: datetime) -> bool:
    """Whether the privacy links were re-issued since the last sync (a new period): every member's
    ``PREFS_URL`` changes, so this run looks at every contact, once a period."""
    if not links_enabled(ctx.settings):
        return False
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, name)
        last = state.last_sync_at if state is not None else None
    if last is None:
        return False
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    return expiry_day(ctx.settings, last) != expiry_day(ctx.settings, now)


def record_plan(ctx: AppContext, planned: PlannedSync, contact: str | None) -> str:
    """Remember a dry-run as a ``plan`` run (nothing is sent)."""
    run = _run_row(ctx, planned, "plan", "planned", contact)
    run.finished_at = ctx.now()
    with unit_of_work(ctx.engine) as session:
        session.add(run)
    return run.id


def sync_audience(
    ctx: AppContext,
    gateway: MailchimpGateway,
    name: str,
    *,
    full: bool = False,
    contact: str | None = None,
    allow_destructive: bool = False,
    progress: ProgressStart | None = None,
    should_stop: Callable[[], bool] | None = None,
    streamed: bool = True,
    chunk: int | None = None,
    watch: SyncProgress | None = None,
) -> SyncReport:
    """Sync one audience; resumes an interrupted run first. ``PlanRefusedError`` if the guard says no.

    ``should_stop`` (asked between calls) ends the run early, left ``applying`` for the next resume.
    ``streamed`` (``sync/stream.py``): ``chunk`` contacts planned at a time (default
    ``sync.stream_chunk``), each chunk's calls out while the next is planned; else the whole audience is
    planned, persisted, then applied (the unstreamed run). ``watch``: updated as a streamed run goes
    (planned, sent, confirmed); its last state is kept in the run's report.
    """
    audience = ctx.settings.audience(name)
    mapping = mapping_for(ctx.settings, audience)
    timings = RunTimings()
    with audience_lock(ctx, name):
        with timings.timed("audience"):
            target = ensure_audience(ctx, gateway, audience, mapping)
            unfinished = _unfinished_run(ctx, name)
        if unfinished is not None and streaming(ctx, unfinished):
            return _stream(
                ctx,
                gateway,
                unfinished,
                target,
                mapping,
                contact,
                progress,
                should_stop,
                timings,
                chunk,
                watch=watch,
            )
        if unfinished is not None:
            return _apply(
                ctx, gateway, unfinished, target, audience, progress, should_stop, timings, resumed=True
            )
        if streamed:
            require_bound(ctx, audience)
            full = full or (contact is None and _links_rolled_over(ctx, name, ctx.now()))
            run_id = start_run(
                ctx, name, target.list_id, full=full, contact=contact, allow_destructive=allow_destructive
            )
            return _stream(
                ctx,
                gateway,
                run_id,
                target,
                mapping,
                contact,
                progress,
                should_stop,
                timings,
                chunk,
                new=True,
                watch=watch,
            )
        run_id, steps, refusal = _plan_and_persist(
            ctx, name, contact, timings, full=full, allow=allow_destructive
        )
        report = _apply(
            ctx, gateway, run_id, target, audience, progress, should_stop, timings, resumed=False, steps=steps
        )
    if refusal is not None:
        raise PlanRefusedError(refusal)
    return report


def _stream(
    ctx: AppContext,
    gateway: MailchimpGateway,
    run_id: str,
    target: AudienceTarget,
    mapping: AudienceMapping,
    contact: str | None,
    progress: ProgressStart | None,
    should_stop: Callable[[], bool] | None,
    timings: RunTimings,
    chunk: int | None,
    *,
    new: bool = False,
    watch: SyncProgress | None = None,
) -> SyncReport:
    """A streamed run, new or resumed; ``PlanRefusedError`` (after sending the opt-outs) if refused."""
    audience = ctx.settings.audience(target.name)
    applier = Applier(ctx, gateway, run_id, target, audience.purposes, apply_options(ctx.settings))
    applier.should_stop = should_stop or applier.should_stop
    watching = watch or SyncProgress()
    advance = progress(0) if progress is not None else None

    def sent(calls: int) -> None:
        answered = applier.recorder.report
        watching.sent_calls += calls
        watching.sent_operations = answered.done + answered.rejected + answered.opted_out
        watching.confirmed_operations = answered.done
        if advance is not None:
            advance(calls)

    applier.progress = sent
    streamed = run_streamed(
        ctx,
        run_id,
        audience,
        mapping,
        applier,
        contact=contact,
        resumed=not new,
        chunk=chunk or ctx.settings.sync.stream_chunk,
        timings=timings,
        fail=_fail,
        watch=watching,
    )
    applied = streamed.applied
    timings.include(applied.timings)
    if streamed.nothing_sent:
        raise PlanRefusedError(streamed.refusal or "plan refused")
    if applied.stopped or (streamed.refusal is None and not _planned(ctx, run_id)):
        return SyncReport(run_id, audience.name, not new, {}, applied, timings)
    with timings.timed("finish"):
        watching.confirmed_operations = applied.done
        watching.sent_operations = applied.done + applied.rejected + applied.opted_out
        report = _finish(ctx, run_id, applied, not new, timings, {"progress": watching.document()})
    if streamed.refusal is not None:
        raise PlanRefusedError(streamed.refusal)
    return report


def _planned(ctx: AppContext, run_id: str) -> bool:
    return not streaming(ctx, run_id)


Persisted = tuple[str, list[Step], str | None]
"""A new run's id, its steps, and, when the guard refused the plan, why (the run holds its opt-outs only)."""


def _plan_and_persist(
    ctx: AppContext, name: str, contact: str | None, timings: RunTimings, *, full: bool, allow: bool
) -> Persisted:
    """Plan and persist a new run, the cyclic collector paused throughout: it starts again only once what
    planning held (facts, entitlements, desired members, the mirror) is dropped, so it never walks that
    heap. Applying needs only the steps."""
    with collector_paused():
        return _planned_and_persisted(ctx, name, contact, timings, full=full, allow=allow)


def _planned_and_persisted(
    ctx: AppContext, name: str, contact: str | None, timings: RunTimings, *, full: bool, allow: bool
) -> Persisted:
    planned = plan_audience(ctx, name, full=full, contact=contact, allow_destructive=allow)
    timings.include(planned.timings)
    if not planned.safety.ok:
        return _persist_opt_outs(ctx, planned, contact, timings)
    with timings.timed("persist"):
        run_id, steps = persist_plan(ctx, planned, contact)
    return run_id, steps, None


def _persist_opt_outs(
    ctx: AppContext, planned: PlannedSync, contact: str | None, timings: RunTimings
) -> Persisted:
    """A refused plan still applies every opt-out in it, and nothing else: the run persisted holds those
    operations only (what a resume reads back), leaves the watermark and review times where they were
    (the refused removals stay due), and the refusal says how many opt-outs went out. Without any,
    the refusal is recorded alone and raised."""
    mapping = mapping_for(ctx.settings, ctx.settings.audience(planned.plan.audience))
    opt_outs = opt_out_plan(planned.plan, planned.desired, planned.inputs.mirror, mapping)
    if not opt_outs.operations:
        _record_refused(ctx, planned, contact)
        raise PlanRefusedError(planned.safety.message())
    members = len({op.subscriber_hash for op in opt_outs.operations})
    refusal = f"{planned.safety.message()}; applied {members} opt-outs"
    partial = replace(planned, plan=opt_outs)
    with timings.timed("persist"):
        run_id, steps = persist_plan(ctx, partial, contact, refused=refusal)
    log.warning(
        "sync.plan.refused_opt_outs_applied",
        audience_id=planned.plan.audience,
        bulk_members=planned.safety.destructive_members,
        opt_out_members=members,
    )
    return run_id, steps, refusal


def persist_plan(
    ctx: AppContext, planned: PlannedSync, contact: str | None, *, refused: str | None = None
) -> tuple[str, list[Step]]:
    """Write the run and every operation (state ``pending``) in one transaction; refresh review times.
    The run's id, and its steps: the plan's own operations, which is what a resume decodes from the rows
    (``decode(encode(op)) == op``, property-tested), so nothing is read back or decoded.

    Set-based: one multi-row INSERT for the operations and one Core executemany UPDATE (by primary key)
    for review times. ``refused``: the guard refused the whole plan and ``planned`` holds its opt-outs
    only; the run then advances neither the watermark nor any review time.
    """
    run = _run_row(ctx, planned, "sync", "applying", contact, partial=refused is not None)
    if refused is not None:
        run.report = {**run.report, "refused": refused, "opt_outs_only": True}
    rows = _operation_rows(run.id, planned)
    with unit_of_work(ctx.engine) as session:
        session.add(run)
        session.flush()
        if rows:
            session.execute(insert(PlanOperationRow), rows)
        if refused is None and (reviews := _review_times(planned)):
            session.execute(REVIEW_UPDATE, reviews)
        record_untouched_erasures(
            session,
            ctx.settings,
            planned.plan.audience,
            planned.inputs.erasures,
            planned.plan,
            planned.inputs.mirror,
            ctx.now(),
            {key for key, want in planned.desired.items() if want.present},
        )
        purge_confirmed_erasures(session)
    operations = planned.plan.operations
    return run.id, [Step(row["seq"], op, row["payload"]) for row, op in zip(rows, operations, strict=True)]


def _operation_rows(run_id: str, planned: PlannedSync) -> list[dict[str, Any]]:
    rows = []
    for seq, op in enumerate(planned.plan.operations):
        want = planned.desired.get(op.subscriber_hash)
        send = send_status(op, planned.inputs.mirror.get(op.subscriber_hash))
        kind, payload = encode(op, send_status=send, contact_id=want.contact_id if want else None)
        rows.append(
            {
                "run_id": run_id,
                "seq": seq,
                "kind": kind,
                "subscriber_hash": op.subscriber_hash,
                "payload": payload,
                "state": "pending",
                "outcome": None,
            }
        )
    return rows


def _review_times(planned: PlannedSync) -> list[dict[str, Any]]:
    facts, entitlements = planned.inputs.facts, planned.entitlements
    return [
        {"b_id": row.id, "next_review_at": review_at(facts[row.id], entitlements[row.id])}
        for row in planned.inputs.contacts
    ]


def _run_row(
    ctx: AppContext,
    planned: PlannedSync,
    kind: str,
    status: str,
    contact: str | None,
    *,
    partial: bool = False,
) -> SyncRunRow:
    return SyncRunRow(
        id=str(uuid.uuid4()),
        audience=planned.plan.audience,
        list_id=planned.inputs.list_id,
        kind=kind,
        status=status,
        started_at=ctx.now(),
        counts=planned.plan.counts(),
        calls=estimate_calls(
            planned.plan, ctx.settings.sync.batch_size, batch_jobs_above=ctx.settings.sync.batch_jobs_above
        ),
        report={"contacts": len(planned.inputs.contacts), "contact_only": contact is not None},
        watermark=None if contact is not None or partial else planned.inputs.watermark,
    )


def _record_refused(ctx: AppContext, planned: PlannedSync, contact: str | None) -> None:
    run = _run_row(ctx, planned, "sync", "refused", contact)
    run.finished_at = ctx.now()
    run.report = {**run.report, "refused": planned.safety.message()}
    with unit_of_work(ctx.engine) as session:
        session.add(run)


def _unfinished_run(ctx: AppContext, audience: str) -> str | None:
    query = select(col(SyncRunRow.id)).where(
        col(SyncRunRow.audience) == audience,
        col(SyncRunRow.status) == "applying",
        col(SyncRunRow.kind) == "sync",
    )
    with unit_of_work(ctx.engine) as session:
        return session.execute(query.order_by(col(SyncRunRow.started_at))).scalars().first()


def _apply(
    ctx: AppContext,
    gateway: MailchimpGateway,
    run_id: str,
    target: AudienceTarget,
    audience: AudienceSettings,
    progress: ProgressStart | None,
    should_stop: Callable[[], bool] | None,
    timings: RunTimings,
    *,
    resumed: bool,
    steps: list[Step] | None = None,
) -> SyncReport:
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        total = run.calls
    advance = progress(total) if progress is not None else None
    try:
        applied = apply_run(
            ctx,
            gateway,
            run_id,
            target,
            audience.purposes,
            options=apply_options(ctx.settings),
            progress=advance,
            should_stop=should_stop,
            steps=steps,
        )
    except FatalMailchimpError as exc:
        _fail(ctx, run_id, exc)
        raise
    timings.include(applied.timings)
    if applied.stopped:
        return SyncReport(run_id, audience.name, resumed, {}, applied, timings)
    with timings.timed("finish"):
        return _finish(ctx, run_id, applied, resumed, timings)


def _fail(ctx: AppContext, run_id: str, exc: FatalMailchimpError) -> None:
    """End a run Mailchimp refused: ``failed``, with the reason; nothing it did not confirm is mirrored."""
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        run.status, run.finished_at = "failed", ctx.now()
        run.report = {**run.report, "error": str(exc)}
        session.add(run)
        audience = run.audience
    log.warning("sync.run.failed", run_id=run_id, audience=audience, error=str(exc))


def _finish(
    ctx: AppContext,
    run_id: str,
    applied: ApplyReport,
    resumed: bool,
    timings: RunTimings,
    extra: dict[str, Any] | None = None,
) -> SyncReport:
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        run.status, run.finished_at = "done", ctx.now()
        members = mirror_counts(session, run.list_id)  # the console's counts and chart of members
        counted = {"by_status": members.by_status, "subscribed_by_tag": members.subscribed_by_tag}
        run.report = {
            **run.report,
            **_applied_document(applied),
            "resumed": resumed,
            "members": counted,
            **(extra or {}),
        }
        state = session.get(AudienceStateRow, run.audience) or AudienceStateRow(audience=run.audience)
        if run.watermark is not None:
            state.last_sync_at = run.watermark
        session.add_all([run, state])
        counts = dict(run.counts)
        session.flush()
        purge_confirmed_erasures(session)  # what this run's deletions confirmed
    return SyncReport(run_id, run.audience, resumed, counts, applied, timings)


def _applied_document(applied: ApplyReport) -> dict[str, Any]:
    return {
        "calls_made": applied.calls,
        "done": applied.done,
        "rejected": applied.rejected,
        "opted_out_in_mailchimp": applied.opted_out,
        "rejections": applied.rejections[:50],
    }
