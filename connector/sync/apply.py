"""Perform a persisted plan in the fewest calls and record what Mailchimp confirmed (DESIGN §4, §5).

Upserts go out as batch subscribes of up to ``batch_size`` members; tag changes as one bulk call per tag
per 500 adds/removes; archives and deletions one call each. After every call, one transaction marks
the call's operations ``done`` or ``rejected`` and updates the mirror for the confirmed ones only, so a
crash leaves exactly the unsent operations ``pending``.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import SuppressionReason
from connector.core.plan import AddTags, Archive, DeletePermanently, Operation, RemoveTags, UpsertMember
from connector.core.remote import MemberStatus, subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import MemberOutcome, MemberRecord, MemberWrite, RejectionKind
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import MirrorMemberRow, PlanOperationRow
from connector.store.tables import ErasureRow
from connector.sync.audience import AudienceTarget
from connector.sync.inbound import record_opt_out, record_undeliverable
from connector.sync.stored_plan import decode

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Step:
    """One pending operation: its row's sequence number, the operation, and its payload."""

    seq: int
    op: Operation
    payload: dict[str, Any]


@dataclass(slots=True)
class ApplyReport:
    calls: int = 0
    done: int = 0
    rejected: int = 0
    opted_out: int = 0
    rejections: list[str] = field(default_factory=list)


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
    batch_size: int = 500,
    progress: Progress | None = None,
) -> ApplyReport:
    """Apply the run's pending operations; safe to call again after a crash."""
    applier = _Applier(ctx, gateway, run_id, target, purposes, progress)
    steps, applier.unwritten = load_pending(ctx, run_id)
    groups = group(steps)
    for start in range(0, len(groups.upserts), batch_size):
        applier.upsert(groups.upserts[start : start + batch_size])
    for tag in sorted(groups.adds.keys() | groups.removes.keys()):
        applier.tag(tag, groups.adds.get(tag, []), groups.removes.get(tag, []), min(batch_size, 500))
    for step in groups.singles:
        applier.single(step)
    return applier.report


def load_pending(ctx: AppContext, run_id: str) -> tuple[list[Step], set[str]]:
    """The run's pending steps in order, and the members whose upsert Mailchimp rejected."""
    with unit_of_work(ctx.engine) as session:
        query = select(PlanOperationRow).where(col(PlanOperationRow.run_id) == run_id)
        rows = list(session.execute(query.order_by(col(PlanOperationRow.seq))).scalars())
    pending = [Step(r.seq, decode(r), dict(r.payload)) for r in rows if r.state == "pending"]
    unwritten = {r.subscriber_hash for r in rows if r.kind == "upsert" and r.state == "rejected"}
    return pending, unwritten


class _Applier:
    def __init__(
        self,
        ctx: AppContext,
        gateway: MailchimpGateway,
        run_id: str,
        target: AudienceTarget,
        purposes: Sequence[str],
        progress: Progress | None,
    ) -> None:
        self.ctx = ctx
        self.gateway = gateway
        self.run_id = run_id
        self.target = target
        self.purposes = purposes
        self.progress = progress
        self.report = ApplyReport()
        self.unwritten: set[str] = set()

    def _called(self) -> None:
        self.report.calls += 1
        if self.progress is not None:
            self.progress(1)

    def _mark(self, session: Session, step: Step, state: str, outcome: str | None = None) -> None:
        row = session.get(PlanOperationRow, (self.run_id, step.seq))
        assert row is not None
        if row.state == "rejected":
            return
        row.state, row.outcome, row.payload = state, outcome, dict(step.payload)
        if state == "done":
            self.report.done += 1
        elif state == "rejected":
            self.report.rejected += 1
            self.report.rejections.append(
                f"{step.op.subscriber_hash[:8]} {type(step.op).__name__}: {outcome}"
            )

    def _mirror(self, session: Session, key: str) -> MirrorMemberRow | None:
        return session.get(MirrorMemberRow, (self.target.name, key))

    # --- upserts ---------------------------------------------------------------------------------

    def upsert(self, chunk: Sequence[Step]) -> None:
        writes = [
            MemberWrite(
                s.payload["email"],
                status=MemberStatus(s.payload["send_status"]),
                merge_fields=s.payload["merge_fields"],
            )
            for s in chunk
        ]
        answer = self.gateway.batch_subscribe(self.target.list_id, writes, update_existing=True)
        self._called()
        errors = {_key_of(e): e for e in answer.errors}
        created = {r.subscriber_hash: r for r in answer.new_members}
        updated = {r.subscriber_hash: r for r in answer.updated_members}
        with unit_of_work(self.ctx.engine) as session:
            for step in chunk:
                key = step.op.subscriber_hash
                if key in errors:
                    self._upsert_rejected(session, step, errors[key])
                else:
                    record = created.get(key) or updated.get(key)
                    self._upsert_confirmed(session, step, record, key not in updated)
                    self._mark(session, step, "done")

    def _upsert_confirmed(self, session: Session, step: Step, record: MemberRecord | None, new: bool) -> None:
        now = self.ctx.now()
        row = self._mirror(session, step.op.subscriber_hash)
        if row is None:
            row = MirrorMemberRow(
                audience=self.target.name,
                subscriber_hash=step.op.subscriber_hash,
                status=step.payload["send_status"],
                managed=new,
                confirmed_at=now,
            )
        row.contact_id = row.contact_id or step.payload.get("contact_id")
        row.email = step.payload["email"]
        row.status = record.status.value if record is not None else step.payload["send_status"]
        row.merge_fields = {**row.merge_fields, **step.payload["merge_fields"]}
        row.last_changed = record.last_changed if record is not None else row.last_changed
        row.confirmed_at = now
        session.add(row)

    def _upsert_rejected(self, session: Session, step: Step, outcome: MemberOutcome) -> None:
        self.unwritten.add(step.op.subscriber_hash)
        now = self.ctx.now()
        contact_id = step.payload.get("contact_id")
        if outcome.kind is RejectionKind.COMPLIANCE_STATE:
            self._mirror_status(session, step, MemberStatus.UNSUBSCRIBED.value, forgotten=False)
            record_opt_out(session, self.ctx, contact_id, self.purposes, now, "mailchimp compliance state")
            self.report.opted_out += 1
            self._mark(
                session, step, "rejected", "opted out in Mailchimp (compliance state); withdrawal recorded"
            )
        elif outcome.kind is RejectionKind.FORGOTTEN:
            self._mirror_status(session, step, MemberStatus.UNSUBSCRIBED.value, forgotten=True)
            reason = SuppressionReason.UNSUBSCRIBED
            record_undeliverable(session, self.ctx, step.payload["email"], contact_id, reason, now)
            self._mark(session, step, "rejected", "permanently deleted in Mailchimp; suppression recorded")
        else:
            self._mark(session, step, "rejected", f"{outcome.kind.value}: {outcome.message}"[:300])

    def _mirror_status(self, session: Session, step: Step, status: str, *, forgotten: bool) -> None:
        row = self._mirror(session, step.op.subscriber_hash) or MirrorMemberRow(
            audience=self.target.name,
            subscriber_hash=step.op.subscriber_hash,
            email=step.payload["email"],
            status=status,
            contact_id=step.payload.get("contact_id"),
            confirmed_at=self.ctx.now(),
        )
        row.status, row.forgotten, row.confirmed_at = status, forgotten, self.ctx.now()
        session.add(row)

    # --- tags ------------------------------------------------------------------------------------

    def tag(self, tag: str, adds: Sequence[Step], removes: Sequence[Step], limit: int) -> None:
        writable = [s for s in adds if s.op.subscriber_hash not in self.unwritten]
        if skipped := [s for s in adds if s.op.subscriber_hash in self.unwritten]:
            with unit_of_work(self.ctx.engine) as session:
                for step in skipped:
                    self._mark(session, step, "rejected", "member not written (its upsert was rejected)")
        calls = max(math.ceil(len(writable) / limit), math.ceil(len(removes) / limit))
        for index in range(calls):
            window = slice(index * limit, (index + 1) * limit)
            self._tag_call(tag, writable[window], removes[window])

    def _tag_call(self, tag: str, adds: Sequence[Step], removes: Sequence[Step]) -> None:
        segment_id = self.target.segment_ids[tag]
        answer = self.gateway.bulk_segment(
            self.target.list_id,
            segment_id,
            add=[s.payload["email"] for s in adds],
            remove=[s.payload["email"] for s in removes],
        )
        self._called()
        errors = {_key_of(e): e for e in answer.errors}
        with unit_of_work(self.ctx.engine) as session:
            for step, adding in [*((s, True) for s in adds), *((s, False) for s in removes)]:
                error = errors.get(step.op.subscriber_hash)
                if error is not None:
                    self._mark(session, step, "rejected", f"{tag}: {error.kind.value}: {error.message}"[:300])
                else:
                    self._tagged(session, step, tag, adding)

    def _tagged(self, session: Session, step: Step, tag: str, adding: bool) -> None:
        row = self._mirror(session, step.op.subscriber_hash)
        if row is not None:
            tags = set(row.tags) | {tag} if adding else set(row.tags) - {tag}
            row.tags, row.confirmed_at = sorted(tags), self.ctx.now()
            session.add(row)
        step.payload["done_tags"] = sorted({*step.payload.get("done_tags", []), tag})
        finished = set(step.payload["done_tags"]) >= set(step.payload["tags"])
        self._mark(session, step, "done" if finished else "pending")

    # --- archive and delete -----------------------------------------------------------------------

    def single(self, step: Step) -> None:
        key = step.op.subscriber_hash
        list_id = self.target.list_id
        match step.op:
            case Archive():
                found = self.gateway.archive_member(list_id, key)
            case DeletePermanently():
                found = self.gateway.delete_member_permanent(list_id, key)
            case UpsertMember() | AddTags() | RemoveTags():
                raise ValueError("not a single-call operation")
            case _:
                assert_never(step.op)
        self._called()
        with unit_of_work(self.ctx.engine) as session:
            row = self._mirror(session, key)
            if row is not None and isinstance(step.op, Archive):
                row.status = MemberStatus.ARCHIVED.value
            elif row is not None:
                row.forgotten, row.email, row.tags, row.merge_fields = True, "", [], {}
                row.contact_id = None
            if row is not None:
                row.confirmed_at = self.ctx.now()
                session.add(row)
            done = "deleted" if isinstance(step.op, DeletePermanently) else "archived"
            self._erased(session, key, done if found else "not found")  # P7 tombstones, for either way
            self._mark(session, step, "done", None if found else "not found in Mailchimp")

    def _erased(self, session: Session, key: str, outcome: str) -> None:
        query = select(ErasureRow).where(col(ErasureRow.mailchimp_subscriber_hash) == key)
        for tombstone in session.execute(query).scalars():
            tombstone.mailchimp_done_at = self.ctx.now()
            tombstone.mailchimp_outcome = outcome
            session.add(tombstone)


def _key_of(outcome: MemberOutcome) -> str:
    if outcome.subscriber_hash:
        return outcome.subscriber_hash
    return subscriber_hash(outcome.email_address or "")
