"""Answers to re-permission campaigns: a confirmation, a deadline passing, and what a sync leaves alone.

Kept apart from :mod:`connector.sync.repermission` (plan and send) so that the webhook inbox, reconcile
and the sync planner use it without the gateway or the planner.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.remote import subscriber_hash
from connector.core.repermission import (
    SOURCE,
    AskedMember,
    Expiry,
    confirmation_reference,
    expiry,
    lapse_reference,
)
from connector.services.consents import Evidence, add_consent_event
from connector.services.contacts import mark_changed
from connector.services.context import AppContext, Origin
from connector.store.engine import unit_of_work
from connector.store.facts import load_facts
from connector.store.repermission_tables import RepermissionCampaignRow, RepermissionMemberRow
from connector.store.tables import ContactRow

SYSTEM = Origin(actor="consent-sync", source=SOURCE)
CONFIRMED_BY_PERSON = Origin(actor="mailchimp", source=SOURCE)
_CHUNK = 500


def confirm_member(
    session: Session, contact_id: str, list_id: str, at: datetime, ip: str | None, now: datetime
) -> bool:
    """The person confirmed in Mailchimp (``pending`` → ``subscribed``): a fresh, confirmed consent for
    every open campaign of this list that asked them, with the campaign's notice version. Whether any.

    The caller marks the contact changed (the webhook batch, or reconcile).
    """
    query = (
        select(RepermissionMemberRow, RepermissionCampaignRow)
        .join(
            RepermissionCampaignRow, col(RepermissionCampaignRow.id) == col(RepermissionMemberRow.campaign_id)
        )
        .where(
            col(RepermissionMemberRow.contact_id) == contact_id,
            col(RepermissionMemberRow.state) == "asked",
            col(RepermissionCampaignRow.list_id) == list_id,
        )
    )
    found = list(session.execute(query).tuples())
    contact = session.get(ContactRow, contact_id) if found else None
    if contact is None:
        return False
    for row, campaign in found:
        asked_at = row.asked_at or at
        # never before the question it answers (fired_at has whole seconds), never after we learnt of it
        when = max(min(at, now), asked_at)
        given = Evidence(
            occurred_at=when,
            method=ConsentMethod.EMAIL,
            notice_version=campaign.notice_version,
            ip=ip,
            recorded_by=Actor.PERSON,
            source_ref=confirmation_reference(campaign.id),
            double_opt_in_requested_at=asked_at,
        )
        confirmed = Evidence(
            occurred_at=when,
            method=ConsentMethod.EMAIL,
            ip=ip,
            recorded_by=Actor.PERSON,
            source_ref=confirmation_reference(campaign.id),
        )
        for action, evidence in ((ConsentAction.GIVEN, given), (ConsentAction.CONFIRMED, confirmed)):
            add_consent_event(
                session, contact, campaign.purpose, Channel.EMAIL, action, evidence, CONFIRMED_BY_PERSON, now
            )
        row.state, row.done_at, row.outcome = "confirmed", now, "confirmed in Mailchimp"
    session.flush()
    return True


@dataclass(slots=True)
class ExpireReport:
    ended: int = 0
    closed: int = 0
    waiting: int = 0


def expire_due(ctx: AppContext, now: datetime) -> ExpireReport:
    """End the stale consent of every person asked whose deadline passed without a confirmation."""
    report = ExpireReport()
    with unit_of_work(ctx.engine) as session:
        query = (
            select(RepermissionMemberRow, RepermissionCampaignRow)
            .join(
                RepermissionCampaignRow,
                col(RepermissionCampaignRow.id) == col(RepermissionMemberRow.campaign_id),
            )
            .where(
                col(RepermissionMemberRow.state) == "asked",
                col(RepermissionMemberRow.deadline_at) <= now,
            )
        )
        due = list(session.execute(query).tuples())
        for start in range(0, len(due), _CHUNK):
            _expire_chunk(session, ctx, due[start : start + _CHUNK], now, report)
    return report


def _expire_chunk(
    session: Session,
    ctx: AppContext,
    due: Sequence[tuple[RepermissionMemberRow, RepermissionCampaignRow]],
    now: datetime,
    report: ExpireReport,
) -> None:
    ids = [row.contact_id for row, _ in due]
    contacts = {
        c.id: c for c in session.execute(select(ContactRow).where(col(ContactRow.id).in_(ids))).scalars()
    }
    facts = load_facts(session, list(contacts.values()), ctx.suppression_key)
    for row, campaign in due:
        contact = contacts.get(row.contact_id)
        if contact is None or row.asked_at is None or row.deadline_at is None:
            continue
        asked = AskedMember(row.contact_id, campaign.purpose, row.grant_id, row.asked_at, row.deadline_at)
        outcome = expiry(asked, facts[contact.id], now)
        if outcome is Expiry.WAITING:
            report.waiting += 1
            continue
        if outcome is Expiry.END_STALE:
            evidence = Evidence(
                occurred_at=row.deadline_at,
                method=ConsentMethod.OTHER,
                recorded_by=Actor.SYSTEM,
                source_ref=lapse_reference(campaign.id),
            )
            add_consent_event(
                session,
                contact,
                campaign.purpose,
                Channel.EMAIL,
                ConsentAction.WITHDRAWN,
                evidence,
                SYSTEM,
                now,
            )
            mark_changed(session, ctx, contact, now)
            row.state, row.outcome = "expired", "stale consent ended: not re-confirmed"
            report.ended += 1
        else:
            row.state = "closed"
            row.outcome = "a newer consent stands" if outcome is Expiry.SUPERSEDED else "withdrawn meanwhile"
            report.closed += 1
        row.done_at = now


# --- what a sync leaves alone ------------------------------------------------------------------------------


def held_members(session: Session, audience: str) -> frozenset[str]:
    """Subscriber hashes of the audience's members awaiting a re-permission answer: a sync leaves their
    ``pending`` state (and everything else about them) as it is until they confirm or their time runs out."""
    query = (
        select(col(ContactRow.email))
        .join(RepermissionMemberRow, col(RepermissionMemberRow.contact_id) == col(ContactRow.id))
        .join(
            RepermissionCampaignRow, col(RepermissionCampaignRow.id) == col(RepermissionMemberRow.campaign_id)
        )
        .where(col(RepermissionCampaignRow.audience) == audience, col(RepermissionMemberRow.state) == "asked")
    )
    return frozenset(subscriber_hash(email) for email in session.execute(query).scalars() if email)
