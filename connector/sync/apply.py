"""Perform a persisted plan in the fewest calls and record what Mailchimp confirmed.

See docs/mailchimp-mapping.md ("Applying it in the fewest calls") and docs/architecture.md.

Upserts go out as batch subscribes of up to ``batch_size`` members, a new member's tags inside its entry
(Mailchimp confirms them in the member it answers; any it does not confirm go out with the tag calls);
tag changes as one bulk call per tag per 500 adds/removes; archives and deletions one call each, or as
one ``/batches`` job when there are more than ``batch_jobs_above``. Calls of one phase (upserts, then
tags, then archives/deletions) run on up to ``connections`` threads; each answer is recorded, in this
thread, in one transaction that marks the call's operations ``done`` or ``rejected`` and updates the
mirror for the confirmed ones only, so a crash leaves exactly the unconfirmed operations ``pending``.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, assert_never

from sqlalchemy import select
from sqlmodel import col

from connector.core.plan import AddTags, Archive, DeletePermanently, RemoveTags, UpsertMember, created_members
from connector.core.remote import MemberStatus
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import MemberWrite
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import PlanOperationRow
from connector.sync.audience import AudienceTarget
from connector.sync.batch_jobs import apply_as_batch_job
from connector.sync.record import ApplyReport, Recorder, SingleOutcome, Step
from connector.sync.stored_plan import decode
from connector.sync.timings import RunTimings

__all__ = [
    "Applier",
    "ApplyOptions",
    "ApplyReport",
    "Progress",
    "Step",
    "apply_run",
    "group",
    "load_pending",
]

Progress = Callable[[int], None]
Call = tuple[Callable[[], Any], Callable[[Any], None]]
"""Send (on a worker thread) and record (on the caller's thread)."""


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    batch_size: int = 500
    connections: int = 1
    """Calls in flight at once; the gateway's connection cap bounds them too."""
    batch_jobs_above: int = 50
    """More archives/deletions than this go out as one ``/batches`` job."""


@dataclass(slots=True)
class Groups:
    upserts: list[Step] = field(default_factory=list)
    adds: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))
    removes: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))
    singles: list[Step] = field(default_factory=list)


def group(steps: Sequence[Step]) -> Groups:
    """Steps by the call that carries them; a tag operation joins one group per tag still to do."""
    groups = Groups()
    for step in steps:
        match step.op:
            case UpsertMember():
                groups.upserts.append(step)
            case AddTags(tags=tags):
                for tag in sorted(tags - set(step.payload.get("done_tags", []))):
                    groups.adds[tag].append(step)
            case RemoveTags(tags=tags):
                for tag in sorted(tags - set(step.payload.get("done_tags", []))):
                    groups.removes[tag].append(step)
            case Archive() | DeletePermanently():
                groups.singles.append(step)
            case _:
                assert_never(step.op)
    return groups


def apply_run(
    ctx: AppContext,
    gateway: MailchimpGateway,
    run_id: str,
    target: AudienceTarget,
    purposes: Sequence[str],
    *,
    options: ApplyOptions | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    steps: Sequence[Step] | None = None,
) -> ApplyReport:
    """Apply the run's pending operations; safe to call again after a crash.

    ``should_stop`` is asked before every call; once it says yes, nothing more is sent. ``steps``: the
    steps of a run just persisted, nothing done yet (saves reading them back); else they are loaded.
    """
    applier = Applier(ctx, gateway, run_id, target, purposes, options or ApplyOptions())
    applier.progress = progress
    applier.should_stop = should_stop or applier.should_stop
    if steps is None:
        steps, applier.recorder.unwritten = load_pending(ctx, run_id)
    return applier.apply(steps)


def carried_tags(steps: Sequence[Step]) -> dict[str, Step]:
    """The pending :class:`AddTags` of members a pending upsert creates, by subscriber hash: they go out
    inside that member's batch subscribe entry."""
    creating = created_members(s.op for s in steps)
    return {
        s.op.subscriber_hash: s
        for s in steps
        if isinstance(s.op, AddTags) and s.op.subscriber_hash in creating
    }


def tags_to_send(step: Step) -> tuple[str, ...]:
    """The tags of a tag operation not yet confirmed, in order."""
    assert isinstance(step.op, AddTags | RemoveTags)
    return tuple(sorted(step.op.tags - set(step.payload.get("done_tags", []))))


def load_pending(ctx: AppContext, run_id: str) -> tuple[list[Step], set[str]]:
    """The run's pending steps in order, and the members whose upsert Mailchimp rejected."""
    plan = PlanOperationRow
    columns = (col(plan.seq), col(plan.kind), col(plan.subscriber_hash), col(plan.payload))
    mine = col(plan.run_id) == run_id
    with unit_of_work(ctx.engine) as session:
        query = select(*columns).where(mine, col(plan.state) == "pending").order_by(col(plan.seq))
        pending = [Step(r.seq, decode(r), dict(r.payload)) for r in session.execute(query)]
        rejected = select(col(plan.subscriber_hash)).where(
            mine, col(plan.kind) == "upsert", col(plan.state) == "rejected"
        )
        unwritten = set(session.execute(rejected).scalars())
    return pending, unwritten


class Applier:
    def __init__(
        self,
        ctx: AppContext,
        gateway: MailchimpGateway,
        run_id: str,
        target: AudienceTarget,
        purposes: Sequence[str],
        options: ApplyOptions,
    ) -> None:
        self.gateway = gateway
        self.target = target
        self.options = options
        self.recorder = Recorder(ctx, run_id, target.name, target.list_id, purposes)
        self.progress: Progress | None = None
        self.should_stop: Callable[[], bool] = lambda: False
        self.carried: dict[str, Step] = {}
        """Tags sent inside new members' batch subscribe entries: AddTags steps by subscriber hash."""

    def apply(self, steps: Sequence[Step]) -> ApplyReport:
        """Send ``steps``: upserts, then tags, then archives and deletions."""
        with self.timings.timed("apply: grouping steps into calls"):
            self.carried = carried_tags(steps)
            upserts = self.upsert_calls(group(steps))
        self.perform("upserts", upserts)
        if self.halted():
            return self.recorder.report
        with self.timings.timed("apply: grouping steps into calls"):
            groups = group(steps)  # again: tags confirmed with their new member are no longer to do
            tags = self.tag_calls(groups)
        self.perform("tags", tags)
        if not self.halted():
            self.apply_singles(groups)
        return self.recorder.report

    def halted(self) -> bool:
        report = self.recorder.report
        report.stopped = report.stopped or self.should_stop()
        return report.stopped

    # --- performing calls ------------------------------------------------------------------------

    def perform(self, phase: str, calls: Sequence[Call]) -> None:
        """Send on up to ``connections`` threads; record each answer here as it arrives.

        At most ``connections`` calls are ever sent and not yet recorded, so a crash repeats at most
        that many calls on resume. ``phase`` names the call group in the run's timings.
        """
        if self.halted() or not calls:
            return
        timed = [(self._timed_send(phase, send), record) for send, record in calls]
        with self.timings.timed(f"apply {phase}"):
            self._perform(phase, timed)

    def _perform(self, phase: str, calls: Sequence[Call]) -> None:
        workers = min(self.options.connections, len(calls))
        if workers <= 1:
            for send, record in calls:
                if self.halted():
                    return
                self.recorded(phase, record, send())
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-apply") as pool:
            _Window(self, pool, workers, phase).run(iter(calls))

    def _timed_send(self, phase: str, send: Callable[[], Any]) -> Callable[[], Any]:
        def timed_send() -> Any:
            with self.timings.timed(f"  {phase}: calls (worker threads)"):
                return send()

        return timed_send

    def recorded(self, phase: str, record: Callable[[Any], None], answer: Any) -> None:
        with self.timings.timed(f"  {phase}: recording answers"):
            self.recorder.called()
            record(answer)
        if self.progress is not None:
            self.progress(1)

    @property
    def timings(self) -> RunTimings:
        return self.recorder.report.timings

    # --- the calls of each phase -----------------------------------------------------------------

    def upsert_calls(self, groups: Groups) -> list[Call]:
        size = self.options.batch_size
        chunks = [groups.upserts[i : i + size] for i in range(0, len(groups.upserts), size)]
        return [(self._send_upserts(chunk), self._record_upserts(chunk)) for chunk in chunks]

    def _send_upserts(self, chunk: Sequence[Step]) -> Callable[[], Any]:
        writes = [self._member_write(s) for s in chunk]
        return lambda: self.gateway.batch_subscribe(self.target.list_id, writes, update_existing=True)

    def _member_write(self, step: Step) -> MemberWrite:
        tags = self.carried.get(step.op.subscriber_hash)
        return MemberWrite(
            step.payload["email"],
            status=MemberStatus(step.payload["send_status"]),
            merge_fields=step.payload["merge_fields"],
            tags=tags_to_send(tags) if tags is not None else (),
            interests=step.payload.get("interests", {}),
        )

    def _record_upserts(self, chunk: Sequence[Step]) -> Callable[[Any], None]:
        carried = {
            s.op.subscriber_hash: self.carried[s.op.subscriber_hash]
            for s in chunk
            if s.op.subscriber_hash in self.carried
        }
        return lambda answer: self.recorder.upserts(chunk, answer, carried)

    def tag_calls(self, groups: Groups) -> list[Call]:
        limit = min(self.options.batch_size, 500)
        calls: list[Call] = []
        unwritten = self.recorder.unwritten
        for tag in sorted(groups.adds.keys() | groups.removes.keys()):
            adds = groups.adds.get(tag, [])
            if skipped := [s for s in adds if s.op.subscriber_hash in unwritten]:
                self.recorder.skipped(skipped, "member not written (its upsert was rejected)")
            writable = [s for s in adds if s.op.subscriber_hash not in unwritten]
            removes = groups.removes.get(tag, [])
            count = max(math.ceil(len(writable) / limit), math.ceil(len(removes) / limit))
            for index in range(count):
                window = slice(index * limit, (index + 1) * limit)
                calls.append(self.tag_call(tag, writable[window], removes[window]))
        return calls

    def tag_call(self, tag: str, adds: Sequence[Step], removes: Sequence[Step]) -> Call:
        segment_id = self.target.segment_ids[tag]

        def send() -> Any:
            return self.gateway.bulk_segment(
                self.target.list_id,
                segment_id,
                add=[s.payload["email"] for s in adds],
                remove=[s.payload["email"] for s in removes],
            )

        return send, lambda answer: self.recorder.tags(tag, adds, removes, answer)

    def apply_singles(self, groups: Groups) -> None:
        """Archives and deletions: one ``/batches`` job when there are many (or one is under way)."""
        singles = groups.singles
        many = len(singles) > self.options.batch_jobs_above
        job = [s for s in singles if many or "batch_id" in s.payload]
        if job and not self.halted():
            apply_as_batch_job(self.gateway, self.recorder, self.target.list_id, job)
        in_job = {s.seq for s in job}
        self.perform("singles", [self._single_call(s) for s in singles if s.seq not in in_job])

    def _single_call(self, step: Step) -> Call:
        key = step.op.subscriber_hash
        list_id = self.target.list_id

        def send() -> SingleOutcome:
            match step.op:
                case Archive():
                    return SingleOutcome(found=self.gateway.archive_member(list_id, key))
                case DeletePermanently():
                    return SingleOutcome(found=self.gateway.delete_member_permanent(list_id, key))
                case UpsertMember() | AddTags() | RemoveTags():
                    raise ValueError("not a single-call operation")
                case _:
                    assert_never(step.op)

        return send, lambda outcome: self.recorder.singles([(step, outcome)])


class _Window:
    """A sliding window of calls on a pool: submit up to ``size``; record one, submit the next."""

    def __init__(self, applier: Applier, pool: ThreadPoolExecutor, size: int, phase: str) -> None:
        self.applier = applier
        self.pool = pool
        self.size = size
        self.phase = phase
        self.outstanding: dict[Future[Any], Callable[[Any], None]] = {}
        self.failure: BaseException | None = None

    def run(self, calls: Iterator[Call]) -> None:
        self._refill(calls)
        while self.outstanding:
            done, _ = wait(self.outstanding, return_when=FIRST_COMPLETED)
            for future in done:
                record = self.outstanding.pop(future)
                try:
                    answer = future.result()
                except Exception as error:  # the other answers are recorded first, then it is raised
                    self.failure = self.failure or error
                    continue
                self.applier.recorded(self.phase, record, answer)
            self._refill(calls)
        if self.failure is not None:
            raise self.failure

    def _refill(self, calls: Iterator[Call]) -> None:
        while len(self.outstanding) < self.size and self.failure is None and not self.applier.halted():
            found = next(calls, None)
            if found is None:
                return
            send, record = found
            self.outstanding[self.pool.submit(send)] = record
