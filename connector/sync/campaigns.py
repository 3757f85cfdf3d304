"""The campaign guard's shell: read an audience's unsent campaigns and segments, judge them
(:mod:`connector.core.campaign_guard`), and keep the result in ``campaign_checks``."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from connector.core.campaign_guard import (
    CHECKED_STATUSES,
    CampaignShape,
    Condition,
    Finding,
    SegmentShape,
    check_campaigns,
)
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import SegmentCondition
from connector.services.context import AppContext
from connector.store.console_tables import CampaignCheckRow
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow
from connector.sync.run import mapping_for


@dataclass(frozen=True, slots=True)
class CampaignCheck:
    audience: str
    checked_at: datetime
    findings: tuple[Finding, ...]

    @property
    def flagged(self) -> list[Finding]:
        return [f for f in self.findings if not f.safe]


def check_audience_campaigns(ctx: AppContext, gateway: MailchimpGateway, name: str) -> CampaignCheck:
    """Check the audience's saved, paused and scheduled campaigns (reads only); the result is also stored."""
    audience = ctx.settings.audience(name)
    mapping = mapping_for(ctx.settings, audience)
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, name)
        list_id = audience.list_id or (state.list_id if state is not None else None)
    if list_id is None:  # never synced, no list configured: no campaign of ours to check yet
        check = CampaignCheck(name, ctx.now(), ())
        _remember(ctx, check)
        return check
    segments = [
        SegmentShape(s.id, s.name, str(s.type), s.match, _conditions(s.conditions))
        for s in gateway.segments(list_id)
    ]
    campaigns = [
        CampaignShape(
            id=c.id,
            title=c.title,
            status=c.status,
            list_id=c.list_id,
            recipient_count=c.recipient_count,
            saved_segment_id=c.saved_segment_id,
            prebuilt_segment_id=c.prebuilt_segment_id,
            match=c.match,
            conditions=_conditions(c.conditions),
        )
        for c in gateway.campaigns(list_id, CHECKED_STATUSES)
    ]
    tags = {p: mapping.purpose_tag(p) for p in mapping.purposes}
    check = CampaignCheck(name, ctx.now(), tuple(check_campaigns(campaigns, segments, tags)))
    _remember(ctx, check)
    return check


def _conditions(found: tuple[SegmentCondition, ...]) -> tuple[Condition, ...]:
    return tuple(Condition(c.condition_type, c.field, c.op, c.value) for c in found)


def _remember(ctx: AppContext, check: CampaignCheck) -> None:
    with unit_of_work(ctx.engine) as session:
        row = session.get(CampaignCheckRow, check.audience) or CampaignCheckRow(
            audience=check.audience, checked_at=check.checked_at
        )
        row.checked_at = check.checked_at
        row.campaigns = len(check.findings)
        row.flagged = len(check.flagged)
        row.findings = [finding_document(f) for f in check.findings]
        session.add(row)


def finding_document(finding: Finding) -> dict[str, object]:
    return {
        "campaign_id": finding.campaign_id,
        "title": finding.title,
        "status": finding.status,
        "recipient_count": finding.recipient_count,
        "safe": finding.safe,
        "reason": finding.reason,
    }


def last_checks(ctx: AppContext) -> dict[str, CampaignCheckRow]:
    """The stored last check of every audience that has one."""
    with unit_of_work(ctx.engine) as session:
        return {row.audience: row for row in session.exec(select(CampaignCheckRow)).all()}
