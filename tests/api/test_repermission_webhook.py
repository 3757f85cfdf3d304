"""Re-permission over real HTTP end to end: the person clicks the link of Mailchimp's confirmation e-mail
in the sandbox, the sandbox fires its ``subscribe`` webhook at a ``consent-sync serve`` subprocess, and
the store records a fresh, confirmed consent with the campaign's notice version (README "Re-permission")."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.remote import MemberStatus, subscriber_hash
from connector.core.specificity import NOTICE_UNKNOWN
from connector.sandbox.knobs import SandboxKnobs
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.sync.repermission import campaign_spec, campaign_status, send_campaign
from connector.sync.run import sync_audience
from tests.api.serving import serving
from tests.api.test_end_to_end import World, _world

ORIGIN = Origin("test", "test")


@pytest.fixture
def world(ctx: AppContext) -> Iterator[World]:
    yield from _world(ctx, SandboxKnobs(webhook_time_scale=0.001))


def test_the_sandboxs_subscribe_webhook_confirms_a_repermission(world: World) -> None:
    email = "old.list@firma.no"
    evidence = Evidence(
        occurred_at=world.ctx.now() - timedelta(days=500),
        method=ConsentMethod.IMPORT,
        notice_version=NOTICE_UNKNOWN,
        recorded_by=Actor.PERSON,
    )
    record_consent(world.ctx, email, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN)
    sync_audience(world.ctx, world.gateway, "main")
    spec = campaign_spec(world.ctx, "main", "newsletter", notice_version="confirm-v1", campaign_id="e2e")
    assert send_campaign(world.ctx, world.gateway, spec, ORIGIN).asked_now == 1
    member = world.sandbox.state.member(world.list_id(), subscriber_hash(email))
    assert member is not None
    assert member.status is MemberStatus.PENDING
    outbox = requests.get(f"{world.sandbox.root_url}/_sandbox/outbox", params={"email": email}, timeout=10)
    (message,) = outbox.json()["messages"]

    with serving(world.serve_env()) as server:
        world.register(server)
        clicked = requests.post(f"{world.sandbox.root_url}{message['confirm_url']}", json={}, timeout=10)
        assert clicked.status_code == 200, clicked.text
        assert world.sandbox.wait_for_webhooks(timeout_s=20)

    decision = explain_contact(world.ctx, email).entitlement.decision("newsletter", Channel.EMAIL)
    assert decision is not None
    assert decision.allowed, decision.reason
    assert "notice confirm-v1" in decision.reason
    assert "campaign e2e" in decision.reason
    assert campaign_status(world.ctx, "e2e").totals == {"confirmed": 1}
