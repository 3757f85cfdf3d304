"""The daemon's housekeeping ends the stale consent of people asked again who did not confirm in time,
and asks for a sync so that Mailchimp follows (README "Re-permission")."""

from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.requests import claim_request
from connector.daemon.worker import Worker
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.store.engine import unit_of_work
from connector.store.repermission_tables import RepermissionCampaignRow, RepermissionMemberRow
from tests.conftest import FakeClock

ORIGIN = Origin("test", "test")


def _asked(ctx: AppContext, email: str) -> None:
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=300),
        method=ConsentMethod.IMPORT,
        notice_version="unknown",
        recorded_by=Actor.PERSON,
    )
    (grant,) = record_consent(
        ctx, email, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN
    )
    with unit_of_work(ctx.engine) as session:
        session.add(
            RepermissionCampaignRow(
                id="c1",
                audience="main",
                purpose="newsletter",
                notice_version="v2",
                expires_days=30,
                status="sent",
                created_at=ctx.now(),
                actor="test",
                list_id="list-1",
            )
        )
        session.flush()
        session.add(
            RepermissionMemberRow(
                campaign_id="c1",
                contact_id=grant.contact_id,
                reason="legacy",
                grant_id=grant.id,
                state="asked",
                queued_at=ctx.now(),
                asked_at=ctx.now(),
                deadline_at=ctx.now() + timedelta(days=30),
            )
        )


def test_housekeeping_ends_what_was_not_reconfirmed_and_asks_for_a_sync(
    ctx: AppContext, clock: FakeClock
) -> None:
    _asked(ctx, "quiet@example.no")
    gateway: Any = None  # housekeeping calls no Mailchimp API
    worker = Worker(ctx, gateway, DaemonMetrics.create(CollectorRegistry()), lambda: False)

    worker.keep_house()
    assert explain_contact(ctx, "quiet@example.no").entitlement.allows("newsletter", Channel.EMAIL)
    assert claim_request(ctx.engine, "main") is None

    clock.advance(days=31)
    worker.keep_house()
    decision = explain_contact(ctx, "quiet@example.no").entitlement.decision("newsletter", Channel.EMAIL)
    assert decision is not None
    assert not decision.allowed
    assert "not re-confirmed" in decision.reason
    assert claim_request(ctx.engine, "main") is not None
