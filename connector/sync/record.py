"""Record what Mailchimp confirmed for one call: plan rows ``done``/``rejected``, the mirror, store facts.

Each call's answer is recorded in one transaction that loads the rows it touches in two queries (the
call's plan rows and mirror rows) instead of one query per member, and never autoflushes midway. The
common paths (confirmed upserts and tag edits) write with Core executemany statements keyed by primary
key, one per kind of change, instead of ORM objects or ORM bulk updates.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import SuppressionReason
from connector.core.plan import AddTags, Archive, DeletePermanently, Operation
from connector.core.remote import MemberStatus, subscriber_hash
from connector.mailchimp.payloads import (
    BatchSubscribeReport,
    BulkSegmentReport,
    MemberOutcome,
    MemberRecord,
    RejectionKind,
)
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.raw import IN_CHUNK, Raw
from connector.store.sync_tables import MirrorMemberRow, PlanOperationRow
from connector.sync.erasures import record_erasure_done
from connector.sync.inbound import record_opt_out, record_undeliverable
from connector.sync.timings import RunTimings


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
    stopped: bool = False
    """``should_stop`` answered yes between two calls: the rest stays ``pending`` for a resume."""
    timings: RunTimings = field(default_factory=RunTimings, compare=False)
    """Per call group: the group (first call sent → last answer recorded), its calls (on the worker
    threads) and the recording of their answers (on the run's thread)."""


@dataclass(frozen=True, slots=True)
class SingleOutcome:
    """What Mailchimp answered to one archive or permanent deletion."""

    found: bool
    error: str | None = None


class _Rows:
    """The plan rows and mirror rows one call touches, loaded in two queries."""

    def __init__(self, session: Session, run_id: str, list_id: str, steps: Sequence[Step]) -> None:
        self.plan: dict[int, PlanOperationRow] = {}
        self.mirror: dict[str, MirrorMemberRow] = {}
        if not steps:  # the common answer: every member confirmed (written set-based, not through these)
            return
        seqs = [s.seq for s in steps]
        keys = sorted({s.op.subscriber_hash for s in steps})
        plan_rows = select(PlanOperationRow).where(
            col(PlanOperationRow.run_id) == run_id, col(PlanOperationRow.seq).in_(seqs)
        )
        mirror_rows = select(MirrorMemberRow).where(
            col(MirrorMemberRow.list_id) == list_id, col(MirrorMemberRow.subscriber_hash).in_(keys)
        )
        self.plan = {r.seq: r for r in session.execute(plan_rows).scalars()}
        self.mirror = {r.subscriber_hash: r for r in session.execute(mirror_rows).scalars()}


class Recorder:
    """Turns answers into store changes; keeps the run's report and the members whose upsert failed."""

    def __init__(
        self, ctx: AppContext, run_id: str, audience: str, list_id: str, purposes: Sequence[str]
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.audience = audience
        self.list_id = list_id
        self.purposes = purposes
        self.report = ApplyReport()
        self.unwritten: set[str] = set()
        self.rejected: set[int] = set()
        """Plan rows this recorder marked ``rejected``: the only ones a run can have rejected, since it
        applies only rows still ``pending`` when it started and holds the audience's lock."""

    # --- upserts ---------------------------------------------------------------------------------

    def upserts(
        self,
        chunk: Sequence[Step],
        answer: BatchSubscribeReport,
        carried: Mapping[str, Step] | None = None,
    ) -> None:
        """One batch subscribe's answer. ``carried``: the AddTags steps whose tags rode in the members'
        entries, by subscriber hash; a tag counts as added only if the member Mailchimp answered carries it
        (the rest stay ``pending`` for the tag calls)."""
        errors = {key_of(e): e for e in answer.errors}
        records = {r.subscriber_hash: r for r in answer.new_members}
        updated = {r.subscriber_hash for r in answer.updated_members}
        records |= {r.subscriber_hash: r for r in answer.updated_members}
        rejected = [s for s in chunk if s.op.subscriber_hash in errors]
        confirmed = [s for s in chunk if s.op.subscriber_hash not in errors]
        with self._session(rejected) as (session, rows):
            if confirmed:
                self._upserts_confirmed(session, confirmed, records, updated, carried or {})
            for step in rejected:
                self._upsert_rejected(session, rows, step, errors[step.op.subscriber_hash])

    def _upserts_confirmed(
        self,
        session: Session,
        steps: Sequence[Step],
        records: Mapping[str, MemberRecord],
        updated: set[str],
        carried: Mapping[str, Step],
    ) -> None:
        """Mirror rows written and plan rows marked ``done`` with a few statements on the raw cursor."""
        raw = Raw(session)
        known = self._known_members(raw, steps)
        now = raw.at(self.ctx.now())
        dumps = raw.json
        inserts, updates = [], []
        marks: list[tuple[Step, str, str | None]] = []
        for step in steps:
            key, payload = step.op.subscriber_hash, step.payload
            record = records.get(key)
            contact, merge, changed, tags, interests = known.get(key, (None, {}, None, [], {}))
            added = _carried_tags_confirmed(carried.get(key), record)
            values = (
                payload["email"],
                record.status.value if record is not None else payload["send_status"],
                contact or payload.get("contact_id"),
                dumps({**merge, **payload["merge_fields"]}),
                raw.at(record.last_changed if record is not None else changed),
                dumps(sorted({*tags, *added})) if tags or added else "[]",
                _interests(dumps, interests, payload),
                now,
            )
            if key in known:
                updates.append((*values, self.list_id, key))
            else:
                inserts.append((self.list_id, key, *values, self.audience, key not in updated, False))
            marks.append((step, "done", None))
            if (tag_step := carried.get(key)) is not None and added:
                marks.append((tag_step, _tags_confirmed(tag_step, added), None))
        raw.insert("mirror_members", _MIRROR_INSERT_COLUMNS, inserts)
        if updates:
            raw.many(_MIRROR_UPDATE, updates)
        self._mark_many(session, marks)

    def _known_members(self, raw: Raw, steps: Sequence[Step]) -> dict[str, tuple[Any, ...]]:
        """Contact, merge fields, last change and tags of the steps' members the mirror already holds."""
        found = raw.rows_in(_MIRROR_KNOWN, (self.list_id,), _keys(steps))
        return {
            key: (contact, raw.loaded(merge), raw.moment(changed), raw.loaded(tags), raw.loaded(interests))
            for key, contact, merge, changed, tags, interests in found
        }

    def _upsert_rejected(self, session: Session, rows: _Rows, step: Step, outcome: MemberOutcome) -> None:
        self.unwritten.add(step.op.subscriber_hash)
        now = self.ctx.now()
        contact_id = step.payload.get("contact_id")
        if outcome.kind is RejectionKind.COMPLIANCE_STATE:
            self._mirror_status(session, rows, step, MemberStatus.UNSUBSCRIBED.value, forgotten=False)
            record_opt_out(session, self.ctx, contact_id, self.purposes, now, "mailchimp compliance state")
            self.report.opted_out += 1
            why = "opted out in Mailchimp (compliance state); withdrawal recorded"
            self._mark(rows, step, "rejected", why)
        elif outcome.kind is RejectionKind.FORGOTTEN:
            self._mirror_status(session, rows, step, MemberStatus.UNSUBSCRIBED.value, forgotten=True)
            reason = SuppressionReason.UNSUBSCRIBED
            record_undeliverable(session, self.ctx, step.payload["email"], contact_id, reason, now)
            self._mark(rows, step, "rejected", "permanently deleted in Mailchimp; suppression recorded")
        else:
            self._mark(rows, step, "rejected", f"{outcome.kind.value}: {outcome.message}"[:300])

    def _mirror_status(
        self, session: Session, rows: _Rows, step: Step, status: str, *, forgotten: bool
    ) -> None:
        row = rows.mirror.get(step.op.subscriber_hash) or self._new_mirror_row(step, status, managed=False)
        row.status, row.forgotten, row.confirmed_at = status, forgotten, self.ctx.now()
        session.add(row)

    def _new_mirror_row(self, step: Step, status: str, *, managed: bool) -> MirrorMemberRow:
        return MirrorMemberRow(
            list_id=self.list_id,
            audience=self.audience,
            subscriber_hash=step.op.subscriber_hash,
            email=step.payload.get("email", ""),
            status=status,
            contact_id=step.payload.get("contact_id"),
            managed=managed,
            confirmed_at=self.ctx.now(),
        )

    # --- tags ------------------------------------------------------------------------------------

    def skipped(self, steps: Sequence[Step], why: str) -> None:
        with self._session(steps) as (_, rows):
            for step in steps:
                self._mark(rows, step, "rejected", why)

    def tags(
        self, tag: str, adds: Sequence[Step], removes: Sequence[Step], answer: BulkSegmentReport
    ) -> None:
        """One bulk tag call's answer: mirror tags and plan rows, set-based."""
        errors = {key_of(e): e for e in answer.errors}
        pairs = [*((s, True) for s in adds), *((s, False) for s in removes)]
        with self._session(()) as (session, _):
            raw = Raw(session)
            found = raw.rows_in(_MIRROR_TAGS, (self.list_id,), _keys([*adds, *removes]))
            current: dict[str, list[str]] = {key: raw.loaded(tags) for key, tags in found}
            now = raw.at(self.ctx.now())
            changes: list[tuple[Any, ...]] = []
            marks: list[tuple[Step, str, str | None]] = []
            for step, adding in pairs:
                error = errors.get(step.op.subscriber_hash)
                if error is not None:
                    marks.append((step, "rejected", f"{tag}: {error.kind.value}: {error.message}"[:300]))
                    continue
                if (tags := current.get(step.op.subscriber_hash)) is not None:
                    new = set(tags) | {tag} if adding else set(tags) - {tag}
                    changes.append((raw.json(sorted(new)), now, self.list_id, step.op.subscriber_hash))
                marks.append((step, _tags_confirmed(step, {tag}), None))
            raw.many(_MIRROR_TAGS_UPDATE, changes)
            self._mark_many(session, marks)

    # --- archive and delete ----------------------------------------------------------------------

    def singles(self, outcomes: Iterable[tuple[Step, SingleOutcome]]) -> None:
        answered = list(outcomes)
        with self._session([step for step, _ in answered]) as (session, rows):
            for step, outcome in answered:
                if outcome.error is not None:
                    self._mark(rows, step, "rejected", outcome.error[:300])
                else:
                    self._single_done(session, rows, step, outcome.found)

    def _single_done(self, session: Session, rows: _Rows, step: Step, found: bool) -> None:
        key = step.op.subscriber_hash
        row = rows.mirror.get(key)
        if row is not None and isinstance(step.op, Archive):
            row.status = MemberStatus.ARCHIVED.value
        elif row is not None:
            row.forgotten, row.email, row.tags, row.merge_fields = True, "", [], {}
            row.interests = {}
            row.contact_id = None
        if row is not None:
            row.confirmed_at = self.ctx.now()
            session.add(row)
        done = "deleted" if isinstance(step.op, DeletePermanently) else "archived"
        outcome = done if found else "not found"
        record_erasure_done(session, self.ctx.settings, key, self.audience, outcome, self.ctx.now())
        self._mark(rows, step, "done", None if found else "not found in Mailchimp")

    def batch_started(self, steps: Sequence[Step], batch_id: str) -> None:
        """Remember the ``/batches`` job carrying these steps, so that a resumed run polls it."""
        with self._session(steps) as (_, rows):
            for step in steps:
                step.payload["batch_id"] = batch_id
                self._mark(rows, step, "pending")

    # --- shared ----------------------------------------------------------------------------------

    def called(self) -> None:
        self.report.calls += 1

    @contextmanager
    def _session(self, steps: Sequence[Step]) -> Iterator[tuple[Session, _Rows]]:
        """One transaction with the steps' rows preloaded; no autoflush before the commit."""
        with unit_of_work(self.ctx.engine) as session:
            session.autoflush = False
            yield session, _Rows(session, self.run_id, self.list_id, steps)

    def _mark_many(self, session: Session, marks: Sequence[tuple[Step, str, str | None]]) -> None:
        """Plan rows to a new state, set-based: one ``UPDATE … WHERE seq IN (…)`` per new state and
        outcome; a row already ``rejected`` stays so. The payload is written only for rows still
        ``pending`` (one executemany)."""
        raw = Raw(session)
        states: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        with_payload: list[tuple[Any, ...]] = []
        for step, state, outcome in marks:
            if step.seq in self.rejected:
                continue
            if state == "pending":  # partial progress (``done_tags``) a resume must know
                with_payload.append((state, outcome, raw.json(step.payload), self.run_id, step.seq))
            else:  # the payload of a finished row is read by nobody: only its state changes
                states[(state, outcome)].append(step.seq)
            self._count(step, state, outcome)
        for (state, outcome), seqs in states.items():
            for start in range(0, len(seqs), IN_CHUNK):
                chunk = seqs[start : start + IN_CHUNK]
                raw.execute(_PLAN_STATES, (state, outcome, self.run_id, *chunk), len(chunk))
        raw.many(_PLAN_STATE_PAYLOAD_UPDATE, with_payload)

    def _count(self, step: Step, state: str, outcome: str | None) -> None:
        if state == "done":
            self.report.done += 1
        elif state == "rejected":
            self.rejected.add(step.seq)
            self.report.rejected += 1
            self.report.rejections.append(
                f"{step.op.subscriber_hash[:8]} {type(step.op).__name__}: {outcome}"
            )

    def _mark(self, rows: _Rows, step: Step, state: str, outcome: str | None = None) -> None:
        row = rows.plan.get(step.seq)
        assert row is not None, f"plan_operations: run {self.run_id} has no operation {step.seq}"
        if row.state == "rejected":
            return
        row.state, row.outcome, row.payload = state, outcome, dict(step.payload)
        self._count(step, state, outcome)


def _interests(dumps: Callable[[Any], str], held: dict[str, bool] | None, payload: dict[str, Any]) -> str:
    """The mirror's interests once the upsert is confirmed, encoded (most members have none)."""
    merged = {**(held or {}), **payload.get("interests", {})}
    return dumps(merged) if merged else "{}"


def _carried_tags_confirmed(tag_step: Step | None, record: MemberRecord | None) -> set[str]:
    """The carried tags the member Mailchimp answered with does carry."""
    if tag_step is None or record is None:
        return set()
    sent = (
        set(tag_step.op.tags) - set(tag_step.payload.get("done_tags", []))
        if isinstance(tag_step.op, AddTags)
        else set()
    )
    return sent & record.tags


def _tags_confirmed(step: Step, tags: set[str]) -> str:
    """Adds ``tags`` to the step's ``done_tags``; its new state: ``done`` once every tag is."""
    step.payload["done_tags"] = sorted({*step.payload.get("done_tags", []), *tags})
    return "done" if set(step.payload["done_tags"]) >= set(step.payload["tags"]) else "pending"


_MIRROR_INSERT_COLUMNS = (
    "list_id", "subscriber_hash", "email", "status", "contact_id", "merge_fields", "last_changed", "tags",
    "interests", "confirmed_at", "audience", "managed", "forgotten",
)  # fmt: skip
_MIRROR_KNOWN = (
    "SELECT subscriber_hash, contact_id, merge_fields, last_changed, tags, interests "
    "FROM mirror_members WHERE list_id = {m} AND subscriber_hash IN ({in})"
)
_MIRROR_TAGS = (
    "SELECT subscriber_hash, tags FROM mirror_members WHERE list_id = {m} AND subscriber_hash IN ({in})"
)
_PLAN_STATES = "UPDATE plan_operations SET state = {m}, outcome = {m} WHERE run_id = {m} AND seq IN ({in})"
_MIRROR_UPDATE = (
    "UPDATE mirror_members SET email = {m}, status = {m}, contact_id = {m}, merge_fields = {m}, "
    "last_changed = {m}, tags = {m}, interests = {m}, confirmed_at = {m} "
    "WHERE list_id = {m} AND subscriber_hash = {m}"
)
_MIRROR_TAGS_UPDATE = (
    "UPDATE mirror_members SET tags = {m}, confirmed_at = {m} WHERE list_id = {m} AND subscriber_hash = {m}"
)
_PLAN_STATE_PAYLOAD_UPDATE = (
    "UPDATE plan_operations SET state = {m}, outcome = {m}, payload = {m} WHERE run_id = {m} AND seq = {m}"
)


def _keys(steps: Sequence[Step]) -> list[str]:
    return sorted({s.op.subscriber_hash for s in steps})


def key_of(outcome: MemberOutcome) -> str:
    if outcome.subscriber_hash:
        return outcome.subscriber_hash
    return subscriber_hash(outcome.email_address or "")
