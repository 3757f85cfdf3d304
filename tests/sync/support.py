"""Helpers for the sync end-to-end tests: store records, the audience's ids, and sandbox snapshots."""

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.relationships import RelationshipInput, add_relationship
from connector.settings import Settings
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.sync.audience import SAVED_PREFIX

ORIGIN = Origin("test", "test")
Snapshot = dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]]


def with_sandbox(ctx: AppContext, sandbox: SandboxHandle, **mailchimp: Any) -> AppContext:
    """``ctx`` pointed at ``sandbox``; extra ``mailchimp.*`` settings override the defaults."""
    update = {"base_url": sandbox.base_url, **mailchimp}
    settings = ctx.settings.model_copy(update={"mailchimp": ctx.settings.mailchimp.model_copy(update=update)})
    return replace(ctx, settings=settings)


def with_policy(settings: Settings, **policy: Any) -> Settings:
    return settings.model_copy(update={"policy": settings.policy.model_copy(update=policy)})


def newsletter(ctx: AppContext, email: str, action: ConsentAction, at: datetime | None = None) -> None:
    evidence = Evidence(
        occurred_at=at or ctx.now() - timedelta(days=1),
        method=ConsentMethod.FORM,
        notice_version="n1",
        recorded_by=Actor.PERSON,
    )
    record_consent(ctx, email, ["newsletter"], Channel.EMAIL, action, evidence, ORIGIN)


def subscribe(ctx: AppContext, email: str, at: datetime | None = None) -> None:
    newsletter(ctx, email, ConsentAction.GIVEN, at)
    newsletter(ctx, email, ConsentAction.CONFIRMED, at)


def account(ctx: AppContext, email: str) -> None:
    """An open customer account: transactional notices, no soft opt-in (no free opt-out offered)."""
    data = RelationshipInput(
        kind=RelationshipKind.ACCOUNT, started_at=ctx.now() - timedelta(days=30), reference="ACC-" + email
    )
    add_relationship(ctx, email, data, ORIGIN)


def trip(ctx: AppContext, email: str, *, departs_in_days: int) -> None:
    """A purchase with a free opt-out offered: soft opt-in for offers until return + follow-up."""
    now = ctx.now()
    data = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=now - timedelta(days=2),
        reference="TRIP-" + email.partition("@")[0],
        categories=frozenset({"travel"}),
        service_date=now + timedelta(days=departs_in_days),
        opt_out_offered=True,
        order_value=Decimal("5000"),
    )
    add_relationship(ctx, email, data, ORIGIN)


def list_id(ctx: AppContext, audience: str = "main") -> str:
    return audience_state(ctx, audience).list_id or ""


def audience_state(ctx: AppContext, audience: str = "main") -> AudienceStateRow:
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, audience)
        assert state is not None
        assert state.list_id is not None
        return state


def saved_segment_emails(ctx: AppContext, gateway: MailchimpGateway, name: str) -> set[str]:
    """The addresses in one of the saved segments consent-sync maintains, as Mailchimp lists them."""
    state = audience_state(ctx)
    segment_id = state.segment_ids[SAVED_PREFIX + name]
    return {m.email_address for m in gateway.segment_members(state.list_id or "", segment_id)}


def mirror_row(ctx: AppContext, email: str, audience: str = "main") -> MirrorMemberRow | None:
    with unit_of_work(ctx.engine) as session:
        return session.get(MirrorMemberRow, (list_id(ctx, audience), subscriber_hash(email)))


def remote_tags(sandbox: SandboxHandle, list_id: str, email: str) -> frozenset[str]:
    member = sandbox.state.member(list_id, subscriber_hash(email))
    assert member is not None, f"{email} is not in the sandbox"
    return member.tags


def snapshot(sandbox: SandboxHandle, list_id: str) -> Snapshot:
    """Every present member of the audience: status, tags and merge fields, keyed by address."""
    audience = sandbox.state.audience(list_id)
    assert audience is not None
    with sandbox.state.lock:
        members = list(audience.present_members())
    return {m.email: (m.status.value, tuple(sorted(m.tags)), m.merge_fields) for m in members}
