"""Re-permission campaigns in the store and in Mailchimp (README "Re-permission").

``plan`` gathers every contact with an e-mail consent event for the purpose, decides (pure,
:mod:`connector.core.repermission`) and records the campaign under its id. ``send`` plans again at send
time, writes one ``queued`` row per new person to ask (a campaign asks nobody twice), and for each sets
the member ``pending`` in the audience's list with the purpose's merge fields and interests, so Mailchimp
sends its own double opt-in e-mail; the mirror takes ``pending`` and a normal sync leaves the member as it
is until the person answers (``held_members``). A confirmation — the ``subscribe`` webhook, or a reconcile
seeing ``pending`` → ``subscribed`` — records a fresh, confirmed consent with the campaign's notice
version (``confirm_member``). ``expire_due`` ends the stale consent of those who did not confirm by the
deadline (the daemon's housekeeping, ``repermission expire``, and ``plan``/``status`` run it).
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from connector.core.model import Channel
from connector.core.remote import MemberStatus, normalise_email
from connector.core.repermission import (
    Candidate,
    RepermissionPlan,
    deadline,
    plan_repermission,
)
from connector.errors import InputError, NotFoundError
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import MemberOutcome, MemberWrite
from connector.services.context import AppContext, Origin
from connector.store.engine import unit_of_work
from connector.store.facts import load_facts
from connector.store.repermission_tables import OPEN_STATES, RepermissionCampaignRow, RepermissionMemberRow
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.store.tables import ConsentEventRow, ContactRow
from connector.sync.audience import ensure_audience
from connector.sync.lock import audience_lock
from connector.sync.repermission_answers import expire_due
from connector.sync.run import mapping_for

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A campaign as the command gave it: what is asked of whom, and for how long."""

    id: str
    audience: str
    purpose: str
    notice_version: str
    expires_days: int

    def document(self) -> dict[str, object]:
        return {
            "audience": self.audience,
            "purpose": self.purpose,
            "notice_version": self.notice_version,
            "expires_days": self.expires_days,
        }


def campaign_spec(
    ctx: AppContext,
    audience: str,
    purpose: str,
    *,
    notice_version: str | None = None,
    expires_days: int | None = None,
    campaign_id: str | None = None,
) -> CampaignSpec:
    """The campaign the options describe; names the option that is wrong."""
    settings = ctx.settings
    configured = settings.audience(audience)
    if purpose not in configured.purposes:
        served = ", ".join(configured.purposes) or "none"
        raise InputError(
            "--purpose", f"audience {audience!r} does not serve {purpose!r} (it serves: {served})"
        )
    chosen = settings.policy.purpose(purpose)
    if chosen is None or Channel.EMAIL not in chosen.channels:
        raise InputError("--purpose", f"{purpose!r} is not an e-mail purpose of the policy")
    version = notice_version or configured.mailchimp_notice_version
    if not version:
        raise InputError(
            "--notice-version",
            "required: the version of the wording Mailchimp's confirmation e-mail shows "
            f"(or set audiences.{audience}.mailchimp_notice_version)",
        )
    days = expires_days if expires_days is not None else settings.repermission.expires_days
    if days < 1:
        raise InputError("--expires", "must be at least 1 day")
    found_id = campaign_id or f"{audience}-{purpose}-{ctx.now():%Y%m%d}"
    return CampaignSpec(found_id, audience, purpose, version, days)


# --- plan ------------------------------------------------------------------------------------------------


def plan_campaign(ctx: AppContext, spec: CampaignSpec, now: datetime) -> RepermissionPlan:
    """Who the campaign would ask at ``now``, and who it leaves out; nothing is written."""
    with unit_of_work(ctx.engine) as session:
        candidates = _candidates(session, ctx, spec)
    return plan_repermission(spec.id, spec.purpose, candidates, ctx.settings.policy, now)


def _candidates(session: Session, ctx: AppContext, spec: CampaignSpec) -> list[Candidate]:
    query = (
        select(col(ConsentEventRow.contact_id))
        .where(col(ConsentEventRow.purpose) == spec.purpose, col(ConsentEventRow.channel) == "email")
        .distinct()
    )
    ids = sorted(session.execute(query).scalars())
    list_id = _list_id(session, spec.audience)
    found: list[Candidate] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        contacts = list(session.execute(select(ContactRow).where(col(ContactRow.id).in_(chunk))).scalars())
        facts = load_facts(session, contacts, ctx.suppression_key)
        members = _mirror_rows(session, spec.audience, list_id, chunk)
        asked = _asked_in(session, chunk, spec.purpose)
        for contact in contacts:
            member = members.get(contact.id)
            found.append(
                Candidate(
                    facts=facts[contact.id],
                    email=contact.email,
                    member_status=MemberStatus(member.status) if member is not None else None,
                    forgotten=member is not None and member.forgotten,
                    asked_in=asked.get(contact.id),
                )
            )
    return found


def _list_id(session: Session, audience: str) -> str | None:
    state = session.get(AudienceStateRow, audience)
    return state.list_id if state is not None else None


def _mirror_rows(
    session: Session, audience: str, list_id: str | None, ids: Sequence[str]
) -> dict[str, MirrorMemberRow]:
    query = select(MirrorMemberRow).where(col(MirrorMemberRow.contact_id).in_(list(ids)))
    if list_id is not None:
        query = query.where(col(MirrorMemberRow.list_id) == list_id)
    else:
        query = query.where(col(MirrorMemberRow.audience) == audience)
    return {r.contact_id: r for r in session.execute(query).scalars() if r.contact_id}


def _asked_in(session: Session, ids: Sequence[str], purpose: str) -> dict[str, str]:
    """Contacts an open campaign for the purpose asked (or is about to ask): campaign id by contact."""
    query = (
        select(col(RepermissionMemberRow.contact_id), col(RepermissionMemberRow.campaign_id))
        .join(
            RepermissionCampaignRow, col(RepermissionCampaignRow.id) == col(RepermissionMemberRow.campaign_id)
        )
        .where(
            col(RepermissionMemberRow.contact_id).in_(list(ids)),
            col(RepermissionMemberRow.state).in_(OPEN_STATES),
            col(RepermissionCampaignRow.purpose) == purpose,
        )
    )
    return {contact_id: campaign_id for contact_id, campaign_id in session.execute(query)}


def record_campaign(
    ctx: AppContext, spec: CampaignSpec, plan: RepermissionPlan, origin: Origin
) -> RepermissionCampaignRow:
    """The campaign, recorded once under its id (the same id with other settings is refused)."""
    with unit_of_work(ctx.engine) as session:
        row = session.get(RepermissionCampaignRow, spec.id)
        if row is not None and _spec_of(row) != spec:
            raise InputError(
                "--id", f"campaign {spec.id!r} was planned with other settings ({_spec_of(row).document()})"
            )
        if row is None:
            row = RepermissionCampaignRow(
                id=spec.id,
                audience=spec.audience,
                purpose=spec.purpose,
                notice_version=spec.notice_version,
                expires_days=spec.expires_days,
                status="planned",
                created_at=plan.planned_at,
                actor=origin.actor,
                report={},
            )
            session.add(row)
        row.report = {**row.report, "plan": plan_summary(plan)}
        session.flush()
        session.expunge(row)
    return row


def stored_campaign(ctx: AppContext, campaign_id: str) -> CampaignSpec:
    with unit_of_work(ctx.engine) as session:
        row = session.get(RepermissionCampaignRow, campaign_id)
        if row is None:
            raise NotFoundError("ID", f"no re-permission campaign {campaign_id!r}; plan it first")
        return _spec_of(row)


def _spec_of(row: RepermissionCampaignRow) -> CampaignSpec:
    return CampaignSpec(row.id, row.audience, row.purpose, row.notice_version, row.expires_days)


def plan_summary(plan: RepermissionPlan) -> dict[str, Any]:
    """The plan as the store keeps it: counts and contact ids with reasons, no addresses."""
    return {
        "campaign_id": plan.campaign_id,
        "purpose": plan.purpose,
        "planned_at": plan.planned_at.isoformat(),
        "counts": plan.counts(),
        "not_concerned": plan.not_concerned,
        "asked": [{"contact_id": a.contact_id, "reason": a.reason.value} for a in plan.asked],
        "left_out": [{"contact_id": x.contact_id, "reason": x.reason.value} for x in plan.left_out],
    }


def plan_document(plan: RepermissionPlan) -> dict[str, Any]:
    """The whole plan for an operator (``--json``): addresses and reasons in words."""
    return {
        **plan_summary(plan),
        "asked": [
            {"contact_id": a.contact_id, "email": a.email, "reason": a.reason.value, "why": a.why}
            for a in plan.asked
        ],
        "left_out": [
            {"contact_id": x.contact_id, "email": x.email, "reason": x.reason.value, "why": x.why}
            for x in plan.left_out
        ],
    }


# --- send ------------------------------------------------------------------------------------------------


Confirm = Callable[[CampaignSpec, int], bool]
"""Asked (the campaign, people still to ask) whether to go ahead above ``repermission.confirm_above``."""


@dataclass(slots=True)
class SendReport:
    campaign_id: str
    status: str
    asked_now: int = 0
    refused_now: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "asked_now": self.asked_now,
            "refused_now": self.refused_now,
            "totals": self.totals,
            "left_out": self.left_out,
            "refusals": self.refusals,
        }


def send_campaign(
    ctx: AppContext,
    gateway: MailchimpGateway,
    spec: CampaignSpec,
    origin: Origin,
    confirm: Confirm | None = None,
) -> SendReport:
    """Ask everyone the campaign selects now and has not asked yet (each person at most once)."""
    configured = ctx.settings.audience(spec.audience)
    mapping = mapping_for(ctx.settings, configured)
    with audience_lock(ctx, spec.audience):
        target = ensure_audience(ctx, gateway, configured, mapping)
        now = ctx.now()
        expire_due(ctx, now)
        plan = plan_campaign(ctx, spec, now)
        record_campaign(ctx, spec, plan, origin)
        queued = _queue(ctx, spec, plan, target.list_id, now)
        report = SendReport(spec.id, "sending")
        report.left_out = {
            k.removeprefix("left_out:"): v for k, v in plan.counts().items() if "left_out" in k
        }
        above = queued > ctx.settings.repermission.confirm_above
        if confirm is not None and above and not confirm(spec, queued):
            _unqueue(ctx, spec.id)
            report.status = "not confirmed"
            return report
        interests = {i: True for i, purpose in mapping.interests if purpose == spec.purpose}
        while batch := _queued(ctx, spec.id):
            for row, contact in batch:
                _ask(
                    ctx, gateway, spec, target.list_id, row, contact, mapping.merge_fields, interests, report
                )
        return _finish(ctx, spec, report)


def _queue(ctx: AppContext, spec: CampaignSpec, plan: RepermissionPlan, list_id: str, now: datetime) -> int:
    """One ``queued`` row per person the plan asks that the campaign has no row for; rows still queued."""
    with unit_of_work(ctx.engine) as session:
        campaign = session.get(RepermissionCampaignRow, spec.id)
        assert campaign is not None
        campaign.status = "sending" if campaign.status != "sent" else campaign.status
        campaign.list_id = list_id
        query = select(col(RepermissionMemberRow.contact_id)).where(
            col(RepermissionMemberRow.campaign_id) == spec.id
        )
        known = set(session.execute(query).scalars())
        for ask in plan.asked:
            if ask.contact_id in known:
                continue
            session.add(
                RepermissionMemberRow(
                    campaign_id=spec.id,
                    contact_id=ask.contact_id,
                    reason=ask.reason.value,
                    grant_id=ask.grant_id,
                    state="queued",
                    queued_at=now,
                )
            )
        session.flush()
        return len(_rows(session, spec.id, ("queued",)))


def _unqueue(ctx: AppContext, campaign_id: str) -> None:
    """A send the operator declined: the rows nobody was asked for go (nobody is held for them)."""
    with unit_of_work(ctx.engine) as session:
        session.execute(
            delete(RepermissionMemberRow).where(
                col(RepermissionMemberRow.campaign_id) == campaign_id,
                col(RepermissionMemberRow.state) == "queued",
            )
        )
        campaign = session.get(RepermissionCampaignRow, campaign_id)
        if (
            campaign is not None
            and campaign.status == "sending"
            and not _rows(session, campaign_id, ("asked",))
        ):
            campaign.status = "planned"


def _rows(session: Session, campaign_id: str, states: Sequence[str]) -> list[RepermissionMemberRow]:
    query = select(RepermissionMemberRow).where(
        col(RepermissionMemberRow.campaign_id) == campaign_id,
        col(RepermissionMemberRow.state).in_(list(states)),
    )
    return list(session.execute(query).scalars())


def _queued(ctx: AppContext, campaign_id: str) -> list[tuple[RepermissionMemberRow, ContactRow]]:
    with unit_of_work(ctx.engine) as session:
        query = (
            select(RepermissionMemberRow, ContactRow)
            .join(ContactRow, col(ContactRow.id) == col(RepermissionMemberRow.contact_id))
            .where(
                col(RepermissionMemberRow.campaign_id) == campaign_id,
                col(RepermissionMemberRow.state) == "queued",
            )
            .order_by(col(RepermissionMemberRow.contact_id))
            .limit(_CHUNK)
        )
        found = [(row, contact) for row, contact in session.execute(query).tuples()]
        session.expunge_all()
    return found


def _ask(
    ctx: AppContext,
    gateway: MailchimpGateway,
    spec: CampaignSpec,
    list_id: str,
    row: RepermissionMemberRow,
    contact: ContactRow,
    merge_fields: tuple[tuple[str, str], ...],
    interests: dict[str, bool],
    report: SendReport,
) -> None:
    """Set one member ``pending`` (Mailchimp sends the confirmation e-mail) and record the answer."""
    email = normalise_email(contact.email or "")
    values = {tag: getattr(contact, name, None) or "" for tag, name in merge_fields}
    write = MemberWrite(
        email_address=email,
        status=MemberStatus.PENDING,
        status_if_new=MemberStatus.PENDING,
        merge_fields=values,
        interests=interests,
    )
    answer = gateway.upsert_member(list_id, write) if email else None
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        stored = session.get(RepermissionMemberRow, (row.campaign_id, row.contact_id))
        assert stored is not None
        if answer is None or isinstance(answer, MemberOutcome):
            stored.state, stored.done_at = "refused", now
            kind = answer.kind.value if answer is not None else "no_address"
            stored.outcome = f"refused by Mailchimp: {kind}"
            report.refused_now += 1
            report.refusals[kind] = report.refusals.get(kind, 0) + 1
            return
        stored.state, stored.asked_at = "asked", now
        stored.deadline_at = deadline(now, spec.expires_days)
        report.asked_now += 1
        _mirror_pending(session, spec.audience, list_id, contact.id, answer.to_remote(), now)


def _mirror_pending(
    session: Session, audience: str, list_id: str, contact_id: str, remote: Any, now: datetime
) -> None:
    """The mirror takes what Mailchimp answered (``pending``); a member the call created is ours."""
    key = remote.subscriber_hash
    mirror = session.get(MirrorMemberRow, (list_id, key))
    if mirror is None:
        mirror = MirrorMemberRow(
            list_id=list_id, subscriber_hash=key, audience=audience, status="", confirmed_at=now, managed=True
        )
    elif mirror.status == MemberStatus.ARCHIVED.value:
        mirror.managed = True
    mirror.contact_id = contact_id
    mirror.email, mirror.status, mirror.tags = remote.email, remote.status.value, sorted(remote.tags)
    mirror.merge_fields, mirror.interests = dict(remote.merge_fields), dict(remote.interests)
    mirror.last_changed, mirror.confirmed_at = remote.last_changed, now
    session.add(mirror)


def _finish(ctx: AppContext, spec: CampaignSpec, report: SendReport) -> SendReport:
    with unit_of_work(ctx.engine) as session:
        campaign = session.get(RepermissionCampaignRow, spec.id)
        assert campaign is not None
        report.totals = _totals(session, spec.id)
        campaign.status = "sent"
        campaign.sent_at = campaign.sent_at or ctx.now()
        report.status = campaign.status
        campaign.report = {**campaign.report, "send": report.document()}
    return report


def _totals(session: Session, campaign_id: str) -> dict[str, int]:
    query = select(col(RepermissionMemberRow.state)).where(
        col(RepermissionMemberRow.campaign_id) == campaign_id
    )
    return dict(sorted(Counter(session.execute(query).scalars()).items()))


# --- status -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    campaign_id: str
    audience: str
    purpose: str
    notice_version: str
    status: str
    totals: dict[str, int]
    members: list[dict[str, Any]]


def campaign_status(ctx: AppContext, campaign_id: str) -> CampaignStatus:
    """Per person asked: queued, asked (until when), confirmed, expired, closed or refused; totals."""
    expire_due(ctx, ctx.now())
    with unit_of_work(ctx.engine) as session:
        campaign = session.get(RepermissionCampaignRow, campaign_id)
        if campaign is None:
            raise NotFoundError("ID", f"no re-permission campaign {campaign_id!r}")
        query = (
            select(RepermissionMemberRow, col(ContactRow.email))
            .join(ContactRow, col(ContactRow.id) == col(RepermissionMemberRow.contact_id))
            .where(col(RepermissionMemberRow.campaign_id) == campaign_id)
            .order_by(col(RepermissionMemberRow.contact_id))
        )
        members = [
            {
                "contact_id": row.contact_id,
                "email": email,
                "reason": row.reason,
                "state": row.state,
                "asked_at": _iso(row.asked_at),
                "deadline_at": _iso(row.deadline_at),
                "outcome": row.outcome,
            }
            for row, email in session.execute(query).tuples()
        ]
        totals = dict(sorted(Counter(m["state"] for m in members).items()))
        return CampaignStatus(
            campaign.id,
            campaign.audience,
            campaign.purpose,
            campaign.notice_version,
            campaign.status,
            totals,
            members,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
