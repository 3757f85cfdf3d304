"""A streamed sync run: the audience planned chunk by chunk, each chunk's calls out while the next is planned.

Contacts are taken ``chunk`` at a time in id order. Each chunk is loaded, decided, desired, diffed and
persisted in one transaction (its operations, its review times and the run's progress in
``sync_runs.report["stream"]``), and only then handed to the :class:`StreamSender`: every operation is
stored before its call, and a run killed at any point resumes from what it stored: it sends what is
``pending``, plans the contacts after the last chunk stored, and goes on.

Operations of members with a destructive operation are stored *held* (``core/streaming.py``). Once the
whole audience is planned, the guard judges the plan from the stored counts in the transaction that also
plans the erasures and marks planning done: passed (or ``--allow-destructive``), the held operations
become ``pending`` and go out; refused, only the opt-outs among them do and the rest is ``refused``, the
watermark stays where it was and the held members' review times are not advanced (they stay due).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from connector.collector import collector_paused
from connector.core.desired import AudienceMapping, DesiredMember, build
from connector.core.plan import Erasure, Operation, Plan, diff, erasure_operations
from connector.core.policy import decide, review_at
from connector.core.remote import subscriber_hash
from connector.core.safety import SafetyReport, violations
from connector.core.streaming import (
    HELD,
    HELD_BULK,
    HELD_OPT_OUT,
    REFUSED,
    SEND,
    CallTally,
    holds,
    verdict,
)
from connector.errors import FatalMailchimpError
from connector.services.context import AppContext
from connector.services.preference_links import enabled as links_enabled
from connector.services.preference_links import link_maker
from connector.settings import AudienceSettings
from connector.store.engine import unit_of_work
from connector.store.facts import load_facts
from connector.store.raw import Raw
from connector.store.sync_tables import PlanOperationRow, SyncRunRow
from connector.store.tables import ContactRow
from connector.sync.apply import Applier, ApplyReport, Step, load_pending
from connector.sync.binding import kept_out_after_move
from connector.sync.erasures import pending_erasures, purge_confirmed_erasures, record_untouched_erasures
from connector.sync.load import (
    load_changed_contacts,
    load_mirror,
    load_mirror_of,
    opted_out_in_earlier_lists,
    present_members,
    remote_member,
)
from connector.sync.progress import SyncProgress
from connector.sync.repermission_answers import held_members
from connector.sync.rows import REVIEW_UPDATE, profile, send_status
from connector.sync.stored_plan import encode
from connector.sync.stream_apply import StreamSender
from connector.sync.timings import RunTimings

log = structlog.get_logger(__name__)

CHUNK = 1_000
"""Contacts planned per chunk: a few batches' worth, small enough that the first call leaves at once."""
REFUSED_OUTCOME = "not sent: the guard refused the plan"
_NAMES = {
    "upsert": "UpsertMember",
    "add_tags": "AddTags",
    "remove_tags": "RemoveTags",
    "archive": "Archive",
    "delete_permanently": "DeletePermanently",
}


@dataclass(slots=True)
class StreamState:
    """How far a streamed run got; kept in ``sync_runs.report["stream"]``, written with each chunk."""

    now: datetime
    full: bool
    allow_destructive: bool
    contact_only: bool
    audience_size: int
    after: str | None = None
    """The last contact id planned."""
    seq: int = 0
    done: bool = False
    """The whole audience is planned and the guard has judged it."""
    contacts: int = 0
    streamed: int = 0
    """Operations stored ``pending`` at once (sent without waiting for the guard)."""
    tally: CallTally = field(default_factory=CallTally)
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    """Erased members' hashes whose address signed up again (a present desired member)."""
    touched: list[str] = field(default_factory=list)
    """Erased members' hashes the member operations already touch."""
    refusal: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "full": self.full,
            "allow_destructive": self.allow_destructive,
            "contact_only": self.contact_only,
            "audience_size": self.audience_size,
            "after": self.after,
            "seq": self.seq,
            "done": self.done,
            "contacts": self.contacts,
            "streamed": self.streamed,
            "tally": self.tally.document(),
            "counts": self.counts,
            "violations": self.violations,
            "superseded": self.superseded,
            "touched": self.touched,
            "refusal": self.refusal,
        }

    @classmethod
    def of(cls, document: dict[str, Any]) -> "StreamState":
        return cls(
            now=datetime.fromisoformat(document["now"]),
            full=document["full"],
            allow_destructive=document["allow_destructive"],
            contact_only=document["contact_only"],
            audience_size=document["audience_size"],
            after=document["after"],
            seq=document["seq"],
            done=document["done"],
            contacts=document["contacts"],
            streamed=document["streamed"],
            tally=CallTally.of(document["tally"]),
            counts=dict(document["counts"]),
            violations=list(document["violations"]),
            superseded=list(document["superseded"]),
            touched=list(document["touched"]),
            refusal=document["refusal"],
        )


def start_run(
    ctx: AppContext, name: str, list_id: str, *, full: bool, contact: str | None, allow_destructive: bool
) -> str:
    """A new streamed run, ``applying``, nothing planned yet; its id."""
    import uuid

    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        state = StreamState(
            now=now,
            full=full,
            allow_destructive=allow_destructive,
            contact_only=contact is not None,
            audience_size=present_members(session, list_id),
        )
        run = SyncRunRow(
            id=str(uuid.uuid4()),
            audience=name,
            list_id=list_id,
            kind="sync",
            status="applying",
            started_at=now,
            counts={},
            calls=0,
            report={"contacts": 0, "contact_only": contact is not None, "stream": state.document()},
            watermark=None if contact is not None else now,
        )
        session.add(run)
    return run.id


def streaming(ctx: AppContext, run_id: str) -> bool:
    """Whether the run is a streamed one still planning (a resume goes on planning it)."""
    with unit_of_work(ctx.engine) as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        stream = run.report.get("stream")
    return stream is not None and not stream["done"]


@dataclass(frozen=True, slots=True)
class Streamed:
    applied: ApplyReport
    refusal: str | None
    """Why the guard refused the plan (``PlanRefusedError`` to raise), else ``None``."""
    nothing_sent: bool = False
    """The plan was refused and the run sent nothing at all: it ended ``refused``."""


class StreamedRun:
    """Plans, stores and sends one streamed run (new or resumed)."""

    def __init__(
        self,
        ctx: AppContext,
        run_id: str,
        audience: AudienceSettings,
        mapping: AudienceMapping,
        applier: Applier,
        *,
        contact: str | None,
        chunk: int = CHUNK,
        timings: RunTimings | None = None,
        watch: SyncProgress | None = None,
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.audience = audience
        self.mapping = mapping
        self.applier = applier
        self.contact = contact
        self.chunk = chunk
        self.timings = timings or RunTimings()
        self.watch = watch or SyncProgress()
        with unit_of_work(ctx.engine) as session:
            run = session.get(SyncRunRow, run_id)
            assert run is not None
            self.state = StreamState.of(run.report["stream"])
            self.list_id = run.list_id or ""
            self.erasure_keys = frozenset(
                () if self.state.contact_only else (e.subscriber_hash for e in self._erasures(session))
            )
            self.held = held_members(session, audience.name)  # asked by a re-permission campaign
        settings = ctx.settings
        self.links = link_maker(settings, self.state.now) if links_enabled(settings) else None

    def run(self, *, resumed: bool) -> Streamed:
        """Plan the rest, sending as it goes; then send what the guard let through."""
        applier = self.applier
        if resumed:
            steps, applier.recorder.unwritten = load_pending(self.ctx, self.run_id)
        else:
            steps = []
        sender = StreamSender(applier)
        try:
            sender.send(steps)
            with collector_paused():
                while not self.state.done and not sender.stopped:
                    sender.send(self.plan_chunk())
        except BaseException:
            sender.close(flush=False)
            raise
        sender.close()
        if applier.halted() or not self.state.done:
            return Streamed(applier.recorder.report, None)
        if self.state.refusal is not None and self._nothing_to_send():
            return Streamed(applier.recorder.report, self.state.refusal, nothing_sent=True)
        rest, unwritten = load_pending(self.ctx, self.run_id)
        applier.recorder.unwritten |= unwritten
        applier.apply(rest)
        return Streamed(applier.recorder.report, self.state.refusal)

    # --- one chunk -------------------------------------------------------------------------------

    def plan_chunk(self) -> list[Step]:
        """Plan and store the next chunk (or, with none left, finish planning); its steps to send now."""
        state = self.state
        with unit_of_work(self.ctx.engine) as session:
            with self.timings.timed("load"):
                contacts = self._contacts(session)
                if not contacts:
                    self._finish_planning(session)
                    return []
                keys = [subscriber_hash(c.email or "") for c in contacts]
                rows = load_mirror_of(session, self.list_id, keys)
                mirror = {r.subscriber_hash: remote_member(r) for r in rows}
                managed = frozenset(r.subscriber_hash for r in rows if r.managed)
                facts = load_facts(session, contacts, self.ctx.suppression_key)
                before = opted_out_in_earlier_lists(session, self.audience.name, self.list_id, keys)
            with self.timings.timed("decide"):
                policy = self.ctx.settings.policy
                entitlements = {c.id: decide(facts[c.id], policy, state.now) for c in contacts}
            with self.timings.timed("desire"):
                desired: dict[str, DesiredMember] = {}
                by_contact: dict[str, str] = {}
                for row, key in zip(contacts, keys, strict=True):
                    member = build(
                        profile(row, self.audience, self.links), entitlements[row.id], self.mapping
                    )
                    desired[key] = kept_out_after_move(member, before, mirror)
                    by_contact[row.id] = key
            with self.timings.timed("diff"):
                plan = diff(desired, mirror, self.mapping, managed, held=self.held)
            with self.timings.timed("guard"):
                found = violations(plan, desired, mirror, self.mapping)
                state.violations += found[: max(0, 5 - len(state.violations))]
                kinds = holds(
                    plan.operations,
                    desired,
                    mirror,
                    self.mapping,
                    hold_all=bool(state.violations),
                )
            with self.timings.timed("persist"):
                bulk = {
                    op.subscriber_hash for op, k in zip(plan.operations, kinds, strict=True) if k == HELD_BULK
                }
                reviews = {c.id: review_at(facts[c.id], entitlements[c.id]) for c in contacts}
                deferred = {by_contact[c]: (c, at) for c, at in reviews.items() if by_contact[c] in bulk}
                rows_out = self._rows(plan.operations, kinds, desired, mirror, deferred)
                raw = Raw(session)
                store_operations(raw, rows_out)
                changed = [
                    (raw.at(reviews[c.id]), c.id)
                    for c in contacts
                    if by_contact[c.id] not in bulk and reviews[c.id] != c.next_review_at
                ]
                raw.many(_REVIEW_UPDATE, changed)
                for key in self.erasure_keys & desired.keys():
                    if desired[key].present:
                        state.superseded.append(key)
                state.touched += sorted(self.erasure_keys & {op.subscriber_hash for op in plan.operations})
                state.after = contacts[-1].id
                state.contacts += len(contacts)
                state.seq += len(rows_out)
                state.tally.add(plan.operations)
                for kind, count in plan.counts().items():
                    state.counts[kind] = state.counts.get(kind, 0) + count
                sending = [
                    Step(row["seq"], op, row["payload"])
                    for row, op in zip(rows_out, plan.operations, strict=True)
                    if row["state"] == SEND
                ]
                state.streamed += len(sending)
                if state.contact_only:
                    self._finish_planning(session)
                self._save(session)
        return sending

    def _contacts(self, session: Session) -> list[ContactRow]:
        state = self.state
        if state.contact_only and state.after is not None:
            return []  # its one contact is planned
        overlap = timedelta(seconds=self.ctx.settings.sync.change_overlap_seconds)
        return load_changed_contacts(
            session,
            self.audience.name,
            state.now,
            full=state.full,
            email=self.contact if state.contact_only else None,
            overlap=overlap,
            after=state.after,
            limit=self.chunk,
            plain=True,
        )

    def _rows(
        self,
        operations: Sequence[Operation],
        kinds: Sequence[str],
        desired: dict[str, DesiredMember],
        mirror: dict[str, Any],
        deferred: dict[str, tuple[str, datetime | None]],
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for index, (op, state) in enumerate(zip(operations, kinds, strict=True)):
            key = op.subscriber_hash
            want = desired.get(key)
            kind, payload = encode(
                op,
                send_status=send_status(op, mirror.get(key)),
                contact_id=want.contact_id if want else None,
            )
            if (review := deferred.pop(key, None)) is not None:
                contact_id, at = review
                payload["review"] = {"contact_id": contact_id, "at": at.isoformat() if at else None}
            rows.append(
                {
                    "run_id": self.run_id,
                    "seq": self.state.seq + index,
                    "kind": kind,
                    "subscriber_hash": key,
                    "payload": payload,
                    "state": state,
                    "outcome": None,
                }
            )
        return rows

    def _save(self, session: Session) -> None:
        run = session.get(SyncRunRow, self.run_id)
        assert run is not None
        run.report = {**run.report, "contacts": self.state.contacts, "stream": self.state.document()}
        options = self.applier.options
        run.calls = self.state.tally.calls(options.batch_size, options.batch_jobs_above)
        run.counts = dict(self.state.counts)
        session.add(run)
        watch = self.watch
        watch.planned_contacts, watch.planned_operations = self.state.contacts, self.state.seq
        watch.estimated_calls, watch.planning_done = run.calls, self.state.done

    # --- the end of planning: erasures, the guard ------------------------------------------------

    def _erasures(self, session: Session) -> tuple[Erasure, ...]:
        return pending_erasures(session, self.audience.name, self.ctx.settings)

    def _finish_planning(self, session: Session) -> None:
        state = self.state
        with self.timings.timed("diff"):
            erasures = () if state.contact_only else self._erasures(session)
            keys = [e.subscriber_hash for e in erasures]
            mirror = {r.subscriber_hash: remote_member(r) for r in load_mirror(session, self.list_id, keys)}
            superseded, touched = set(state.superseded), set(state.touched)
            ops: list[Operation] = []
            for erasure in sorted(erasures, key=lambda e: e.subscriber_hash):
                if erasure.subscriber_hash not in superseded:
                    ops += erasure_operations(erasure, mirror.get(erasure.subscriber_hash))
        with self.timings.timed("persist"):
            kinds = holds(ops, {}, mirror, self.mapping, hold_all=True)
            rows = self._rows(ops, kinds, {}, mirror, {})
            store_operations(Raw(session), rows)
            state.seq += len(rows)
            state.tally.add(ops)
            for kind, count in Plan(self.audience.name, tuple(ops)).counts().items():
                state.counts[kind] = state.counts.get(kind, 0) + count
            untouched = [
                e for e in erasures if e.subscriber_hash not in touched or e.subscriber_hash in superseded
            ]
            record_untouched_erasures(
                session,
                self.ctx.settings,
                self.audience.name,
                untouched,
                Plan(self.audience.name, tuple(ops)),
                mirror,
                self.ctx.now(),
                superseded,
            )
            purge_confirmed_erasures(session)
        with self.timings.timed("guard"):
            self._judge(session)
        state.done = True
        self._save(session)

    def _judge(self, session: Session) -> None:
        state, settings = self.state, self.ctx.settings.sync
        bulk, opt_outs = self._held_members(session)
        safety = verdict(
            len(bulk),
            len(opt_outs - bulk),
            state.audience_size,
            state.violations,
            max_fraction=settings.max_destructive_fraction,
            floor=settings.destructive_floor,
            allow_destructive=state.allow_destructive,
        )
        run = session.get(SyncRunRow, self.run_id)
        assert run is not None
        held = col(PlanOperationRow.state).in_(HELD)
        mine = col(PlanOperationRow.run_id) == self.run_id
        if safety.ok:
            self._release_reviews(session)
            session.execute(update(PlanOperationRow).where(mine, held).values(state=SEND))
            return
        session.execute(
            update(PlanOperationRow)
            .where(mine, col(PlanOperationRow.state) == HELD_OPT_OUT)
            .values(state=SEND)
        )
        session.execute(
            update(PlanOperationRow).where(mine, held).values(state=REFUSED, outcome=REFUSED_OUTCOME)
        )
        state.refusal = _refusal(safety, len(opt_outs))
        state.counts = self._counts_sent(session)
        run.watermark = None
        run.report = {**run.report, "refused": state.refusal, "opt_outs_only": state.streamed == 0}
        session.add(run)
        log.warning(
            "sync.plan.refused_opt_outs_applied" if opt_outs else "sync.plan.refused",
            audience_id=self.audience.name,
            bulk_members=safety.destructive_members,
            opt_out_members=len(opt_outs),
        )

    def _held_members(self, session: Session) -> tuple[set[str], set[str]]:
        row = PlanOperationRow
        query = (
            select(col(row.state), col(row.subscriber_hash))
            .where(col(row.run_id) == self.run_id, col(row.state).in_((HELD_BULK, HELD_OPT_OUT)))
            .distinct()
        )
        bulk: set[str] = set()
        opt_outs: set[str] = set()
        for state, key in session.execute(query):
            (bulk if state == HELD_BULK else opt_outs).add(key)
        return bulk, opt_outs

    def _release_reviews(self, session: Session) -> None:
        """The review times the held members' contacts waited with: the guard passed."""
        row = PlanOperationRow
        query = select(col(row.payload)).where(col(row.run_id) == self.run_id, col(row.state).in_(HELD))
        changed = []
        for (payload,) in session.execute(query):
            if (review := payload.get("review")) is not None:
                at = datetime.fromisoformat(review["at"]) if review["at"] else None
                changed.append({"b_id": review["contact_id"], "next_review_at": at})
        if changed:
            session.execute(REVIEW_UPDATE, changed)

    def _counts_sent(self, session: Session) -> dict[str, int]:
        row = PlanOperationRow
        query = (
            select(col(row.kind), func.count())
            .where(col(row.run_id) == self.run_id, col(row.state) != REFUSED)
            .group_by(col(row.kind))
        )
        return {_NAMES[kind]: int(count) for kind, count in session.execute(query)}

    def _nothing_to_send(self) -> bool:
        """Refused, and the run holds nothing but refused operations: it ends ``refused``."""
        row = PlanOperationRow
        query = select(func.count()).where(col(row.run_id) == self.run_id, col(row.state) != REFUSED)
        with unit_of_work(self.ctx.engine) as session:
            if int(session.execute(query).scalar_one()):
                return False
            run = session.get(SyncRunRow, self.run_id)
            assert run is not None
            run.status, run.finished_at = "refused", self.ctx.now()
            session.add(run)
        return True


_REVIEW_UPDATE = "UPDATE contacts SET next_review_at = {m} WHERE id = {m}"
_OPERATION_COLUMNS = ("run_id", "seq", "kind", "subscriber_hash", "payload", "state", "outcome")


def store_operations(raw: Raw, rows: Sequence[dict[str, Any]]) -> None:
    """``plan_operations`` rows (the mappings ``_rows`` makes) in one executemany (``COPY`` on
    PostgreSQL), each payload encoded once."""
    dumps = raw.json
    raw.insert(
        "plan_operations",
        _OPERATION_COLUMNS,
        [
            (r["run_id"], r["seq"], r["kind"], r["subscriber_hash"], dumps(r["payload"]), r["state"], None)
            for r in rows
        ],
    )


def _refusal(safety: SafetyReport, opt_out_members: int) -> str:
    if not opt_out_members:
        return safety.message()
    return f"{safety.message()}; applied {opt_out_members} opt-outs"


def run_streamed(
    ctx: AppContext,
    run_id: str,
    audience: AudienceSettings,
    mapping: AudienceMapping,
    applier: Applier,
    *,
    contact: str | None,
    resumed: bool,
    chunk: int,
    timings: RunTimings,
    fail: Callable[[AppContext, str, FatalMailchimpError], None],
    watch: SyncProgress | None = None,
) -> Streamed:
    """Run (or resume) a streamed run; a run Mailchimp refuses outright ends ``failed`` (``fail``)."""
    streamed = StreamedRun(
        ctx, run_id, audience, mapping, applier, contact=contact, chunk=chunk, timings=timings, watch=watch
    )
    try:
        return streamed.run(resumed=resumed)
    except FatalMailchimpError as exc:
        fail(ctx, run_id, exc)
        raise
