"""The chaos run's verdict, read from the store and from the sandbox's saved state after everything stopped.

* acknowledged: distinct webhook bodies ``serve`` answered 200 (duplicates posted on top), and the
  deliveries the sandbox itself made and saw acknowledged;
* lost: an acknowledged body whose ``dedup_key`` is not in the inbox;
* applied twice: a (contact, purpose) with more than one withdrawal (every opt-out of the run goes to a
  different contact, so one is the right number: a duplicate, a retried import or a reconcile that read
  the same opt-out back must add none);
* opt-outs lost: an opted-out contact whom the policy allows the newsletter, or who is still subscribed
  with ``cs:newsletter`` in the sandbox;
* unlawful subscribes: a member ``subscribed`` in any sandbox list who carries a purpose tag the policy
  denies, or who has no basis at all (no marketing purpose and no transactional notices), or who is not
  in the store.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session, col

from connector.core.model import Channel, Entitlement
from connector.core.policy import decide
from connector.core.remote import MemberStatus
from connector.core.webhook_events import parse_event
from connector.sandbox.persistence import SnapshotStore
from connector.settings import Settings, suppression_key
from connector.store.engine import make_engine
from connector.store.http_tables import WebhookInboxRow
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.load import load_inputs

AUDIENCE = "main"


@dataclass(frozen=True)
class Verdict:
    acknowledged: int
    duplicates_posted: int
    sandbox_deliveries: int
    lost: int
    applied_once: int
    applied_twice: int
    opt_outs: int
    opt_outs_lost: int
    unlawful_subscribes: int
    members: dict[str, int]
    """Members per sandbox list (present, any status)."""
    lost_opt_outs: tuple[str, ...] = ()
    """Addresses of the opt-outs lost, to look into."""
    twice: tuple[tuple[str, str, int], ...] = ()
    """(address, purpose, withdrawals) of every pair withdrawn more than once, to look into."""

    @property
    def failures(self) -> list[str]:
        named = {
            "acknowledged events lost": self.lost,
            "duplicates applied twice": self.applied_twice,
            "opt-outs lost": self.opt_outs_lost,
            "unlawful subscribes": self.unlawful_subscribes,
        }
        return [f"{name}: {count}" for name, count in named.items() if count]


def verify(
    settings: Settings,
    acked: list[bytes],
    delivered: int,
    opted_out: set[str],
    sandbox_state: Path,
    now: datetime,
) -> Verdict:
    keys = {parse_event(body).dedup_key: body for body in acked}
    engine = make_engine(settings.database.url)
    try:
        with Session(engine) as session:
            stored = set(session.execute(select(col(WebhookInboxRow.dedup_key))).scalars())
            withdrawals = _withdrawals(session)
            entitlements = _entitlements(session, settings, now)
    finally:
        engine.dispose()
    twice = {pair for pair, n in withdrawals.items() if n > 1}
    once = sum(1 for key, body in keys.items() if key in stored and not _touches(body, twice))
    tag, members, unlawful = "cs:newsletter", {}, 0
    lost = {
        e for e in opted_out if e not in entitlements or entitlements[e].allows("newsletter", Channel.EMAIL)
    }
    data = SnapshotStore(sandbox_state).load()
    for list_id, audience in (data.audiences if data else {}).items():
        present = list(audience.present_members())
        members[list_id] = len(present)
        for member in present:
            if member.status is not MemberStatus.SUBSCRIBED:
                continue
            email = member.email.lower()
            if email in opted_out and tag in member.tags:
                lost.add(email)
            unlawful += not _lawful(member.tags, entitlements.get(email), settings)
    return Verdict(
        acknowledged=len(keys),
        duplicates_posted=len(acked) - len(keys),
        sandbox_deliveries=delivered,
        lost=len(set(keys) - stored),
        applied_once=once,
        applied_twice=sum(withdrawals[pair] - 1 for pair in twice),
        opt_outs=len(opted_out),
        opt_outs_lost=len(lost),
        unlawful_subscribes=unlawful,
        members=members,
        lost_opt_outs=tuple(sorted(lost)),
        twice=tuple(sorted((e, p, withdrawals[(e, p)]) for e, p in twice)),
    )


def _withdrawals(session: Session) -> Counter[tuple[str, str]]:
    query = (
        select(col(ContactRow.email), col(ConsentEventRow.purpose), func.count())
        .join(ConsentEventRow, col(ConsentEventRow.contact_id) == col(ContactRow.id))
        .where(col(ConsentEventRow.action) == "withdrawn")
        .group_by(col(ContactRow.email), col(ConsentEventRow.purpose))
    )
    return Counter({(str(e).lower(), str(p)): int(n) for e, p, n in session.execute(query).tuples()})


def _entitlements(session: Session, settings: Settings, now: datetime) -> dict[str, Entitlement]:
    """Every contact's entitlement now, decided by the policy from the facts in the store."""
    inputs = load_inputs(session, settings, AUDIENCE, suppression_key(settings), now, full=True, email=None)
    return {
        (c.email or "").lower(): decide(inputs.facts[c.id], settings.policy, now)
        for c in inputs.contacts
        if c.email and c.id in inputs.facts
    }


def _touches(body: bytes, twice: set[tuple[str, str]]) -> bool:
    email = (parse_event(body).email or "").lower()
    return any(pair[0] == email for pair in twice)


def _lawful(tags: frozenset[str], entitlement: Entitlement | None, settings: Settings) -> bool:
    if entitlement is None:
        return False
    prefix = settings.mapping.tag_prefix
    purposes = settings.audience(AUDIENCE).purposes
    allowed = {p for p in purposes if entitlement.allows(p, Channel.EMAIL)}
    carried = {t.removeprefix(prefix) for t in tags if t.startswith(prefix)} & set(purposes)
    return carried <= allowed and bool(allowed or entitlement.transactional.allowed)
