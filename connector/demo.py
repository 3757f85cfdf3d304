"""``consent-sync demo``: the product end to end on a fresh machine, no Mailchimp account needed.

It creates ``consent-sync-demo.db`` (SQLite) in the working directory, migrates it, records sample
contacts — a confirmed newsletter sign-up, the travel-agency customer, a person who unsubscribed, a
pre-ticked box — and explains what may be sent to each, in plain words. Then it starts the built-in
Mailchimp sandbox and ``consent-sync serve`` in-process, plans and syncs the audience, registers the
webhook, lets Kari click "unsubscribe" in a campaign — the webhook lands the opt-out in the store —, syncs
again and shows that Kari left every marketing tag. Then her concert is cancelled: the cancellation notice
is planned and sent through the sandbox's Mailchimp Transactional API (Mailchimp sends no campaign to an
unsubscribed member, whatever her tags), the sandbox's outbox shows it arrived, and she is in no
marketing segment.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import requests
import typer
import uvicorn
from pydantic import SecretStr

from connector.api.app import create_app
from connector.core.desired import DesiredMember
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.core.remote import subscriber_hash
from connector.errors import InputError
from connector.logs import configure_logging
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import WebhookEvent
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.consents import Evidence, record_consent
from connector.services.contacts import ContactInput, find_contact, upsert_contact
from connector.services.context import AppContext, Origin, build_context
from connector.services.explain import explain_contact
from connector.services.notice_sending import open_notice_sender, send_notice
from connector.services.notices import plan_notice_now, record_notice
from connector.services.relationships import RelationshipInput, add_relationship
from connector.settings import load_settings
from connector.store.engine import unit_of_work
from connector.store.migrate import upgrade
from connector.store.sync_tables import AudienceStateRow
from connector.sync.audience import SAVED_PREFIX
from connector.sync.connect import open_gateway
from connector.sync.explain import render
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import plan_audience, sync_audience
from connector.threaded_server import ThreadedServer, start_threaded

DEMO_DATABASE = Path("consent-sync-demo.db")
DEMO_KEY = Path("consent-sync-demo.key")
DEMO_CONFIG = Path("consent-sync-demo.toml")
ORIGIN = Origin(actor="demo", source="demo")
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's own loopback webhook, not a credential
LOCALHOST = "127.0.0.1"
AUDIENCE = "main"
CONCERT = "CONCERT-OSLO-JAZZ"
"""The item Kari's and Anne's tickets are for: the concert the demo cancels."""
NOTICE_SENDER = "billett@example.no"


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    first_name: str
    story: str


KARI = Person(
    "kari.nordmann@example.no",
    "Kari",
    "has a customer account and a concert ticket; signed up for the newsletter and confirmed it",
)
OLA = Person("ola.hansen@example.no", "Ola", "bought a 14-day trip departing in 60 days (soft opt-in)")
PER = Person("per.berg@example.no", "Per", "subscribed, then clicked unsubscribe in a Mailchimp campaign")
ANNE = Person("anne.lie@example.no", "Anne", "bought a concert ticket; the newsletter box was pre-ticked")


def run_demo(database: Path = DEMO_DATABASE) -> None:
    """Run the sample flow on SQLite in ``database`` (recreated) and explain each contact."""
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)
    DEMO_CONFIG.write_text(
        f'[database]\nurl = "sqlite:///{database}"\n\n[security]\nsuppression_key_file = "{DEMO_KEY}"\n'
        f'preferences_key_file = "{DEMO_KEY}"\n',
        encoding="utf-8",
    )
    settings = load_settings(DEMO_CONFIG)
    configure_logging(settings.logging.model_copy(update={"level": "WARNING"}))
    upgrade(settings.database.url)
    ctx = build_context(settings)
    now = ctx.now()
    _record_samples(ctx, now)
    typer.echo(f"Demo store: {database} (SQLite). What may be sent to each person, and why:\n")
    for person in (KARI, OLA, PER, ANNE):
        typer.echo(f"{person.first_name} — {person.story}")
        for sentence in explain_contact(ctx, person.email).sentences:
            typer.echo(f"  {sentence}")
        typer.echo("")
    with running_sandbox() as sandbox:
        _sync_story(ctx, sandbox)
    _print_next_steps(now)
    _print_privacy_link(ctx)


def _record_samples(ctx: AppContext, now: datetime) -> None:
    for person in (KARI, OLA, PER, ANNE):
        with unit_of_work(ctx.engine) as session:
            upsert_contact(
                session, ctx, ContactInput(person.email, first_name=person.first_name), ORIGIN, now
            )
    _newsletter(ctx, KARI.email, ConsentAction.GIVEN, now - timedelta(days=30))
    _newsletter(ctx, KARI.email, ConsentAction.CONFIRMED, now - timedelta(days=30, minutes=-5))
    trip = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=now - timedelta(days=2),
        reference="TRIP-8812",
        categories=frozenset({"travel"}),
        service_date=now + timedelta(days=58 + 14),
        opt_out_offered=True,
        order_value=Decimal("24900"),
    )
    add_relationship(ctx, OLA.email, trip, ORIGIN)
    membership = RelationshipInput(
        kind=RelationshipKind.ACCOUNT,
        started_at=now - timedelta(days=30),
        reference="ACCOUNT-1001",
        opt_out_offered=True,
    )
    add_relationship(ctx, KARI.email, membership, ORIGIN)
    kari_ticket = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=now - timedelta(days=3),
        reference="TICKET-310",
        item=CONCERT,
        categories=frozenset({"concerts"}),
        service_date=now + timedelta(days=40),
        opt_out_offered=False,
    )
    add_relationship(ctx, KARI.email, kari_ticket, ORIGIN)
    _newsletter(ctx, PER.email, ConsentAction.GIVEN, now - timedelta(days=200))
    _newsletter(ctx, PER.email, ConsentAction.CONFIRMED, now - timedelta(days=200, minutes=-3))
    _newsletter(
        ctx, PER.email, ConsentAction.WITHDRAWN, now - timedelta(days=10), method=ConsentMethod.MAILCHIMP
    )
    concert = RelationshipInput(
        kind=RelationshipKind.PURCHASE,
        started_at=now - timedelta(days=1),
        reference="TICKET-311",
        item=CONCERT,
        categories=frozenset({"concerts"}),
        service_date=now + timedelta(days=40),
        opt_out_offered=False,
    )
    add_relationship(ctx, ANNE.email, concert, ORIGIN)
    try:
        _newsletter(ctx, ANNE.email, ConsentAction.GIVEN, now - timedelta(days=1), ticked=False)
    except InputError as refused:
        typer.echo(f"(refused as expected for Anne: {refused.reason})\n")


def _newsletter(
    ctx: AppContext,
    email: str,
    action: ConsentAction,
    at: datetime,
    *,
    method: ConsentMethod = ConsentMethod.FORM,
    ticked: bool = True,
) -> None:
    evidence = Evidence(
        occurred_at=at,
        method=method,
        notice_version="newsletter-2026-01",
        ticked_by_person=ticked,
        recorded_by=Actor.PERSON,
        source_ref="campaign 42ab" if method is ConsentMethod.MAILCHIMP else "signup-form",
    )
    record_consent(ctx, email, ["newsletter"], Channel.EMAIL, action, evidence, ORIGIN)


def _sync_story(ctx: AppContext, sandbox: SandboxHandle) -> None:
    settings = ctx.settings.model_copy(
        update={
            "mailchimp": ctx.settings.mailchimp.model_copy(update={"base_url": sandbox.base_url}),
            "webhooks": ctx.settings.webhooks.model_copy(update={"secret": SecretStr(DEMO_WEBHOOK_SECRET)}),
            "transactional": ctx.settings.transactional.model_copy(
                update={
                    "api_key": SecretStr(sandbox.transactional_key),
                    "base_url": sandbox.transactional_base_url,
                    "from_email": NOTICE_SENDER,
                }
            ),
        }
    )
    ctx = replace(ctx, settings=settings)
    typer.echo(
        f"Mailchimp sandbox running at {sandbox.base_url} (in-process, nothing leaves this machine).\n"
    )
    planned = plan_audience(ctx, AUDIENCE)
    typer.echo("1. Plan (dry-run) for audience 'main':")
    for line in render(planned.plan, _emails(planned.desired.values())):
        typer.echo(f"   {line}")
    service = _serve(ctx)
    try:
        with open_gateway(settings.mailchimp) as gateway:
            _sync_unsubscribe_resync(ctx, gateway, sandbox, service)
    finally:
        service.stop()
    typer.echo("Kari, explained after the opt-out:")
    for sentence in explain_contact(ctx, KARI.email).sentences:
        typer.echo(f"  {sentence}")
    typer.echo("")


def _sync_unsubscribe_resync(
    ctx: AppContext, gateway: MailchimpGateway, sandbox: SandboxHandle, service: ThreadedServer
) -> None:
    report = sync_audience(ctx, gateway, AUDIENCE)
    typer.echo(
        f"\n2. Sync applied {sum(report.counts.values())} operations in {report.applied.calls} "
        f"API call{'' if report.applied.calls == 1 else 's'}."
    )
    list_id = _list_id(ctx)
    kari = subscriber_hash(KARI.email)
    typer.echo(f"   Kari's tags in Mailchimp: {_tags(gateway, list_id, kari)}")
    hook = f"{service.root_url}/webhooks/mailchimp/{DEMO_WEBHOOK_SECRET}"
    gateway.create_webhook(list_id, hook, tuple(WebhookEvent))
    typer.echo(
        f"\n3. consent-sync serve listens at {service.root_url}; its webhook is registered in Mailchimp."
    )
    url = f"{sandbox.root_url}/_sandbox/lists/{list_id}/members/{kari}/unsubscribe"
    requests.post(url, json={"campaign_id": "demo-campaign"}, timeout=10).raise_for_status()
    sandbox.wait_for_webhooks(timeout_s=20)
    newsletter = explain_contact(ctx, KARI.email).entitlement.allows("newsletter", Channel.EMAIL)
    typer.echo("4. Kari clicks 'unsubscribe' in a campaign (simulated in the sandbox); Mailchimp's webhook")
    typer.echo(f"   reached consent-sync and the store recorded it: newsletter allowed = {newsletter}.")
    sync_audience(ctx, gateway, AUDIENCE)
    typer.echo(f"5. Next sync. Kari's tags in Mailchimp now: {_tags(gateway, list_id, kari)}")
    typer.echo("   (no marketing tags; Mailchimp sends no campaign to an unsubscribed member, whatever her")
    typer.echo("   tags: a notice to her goes through Mailchimp Transactional, step 7)")
    reconciled = reconcile_audience(ctx, gateway, AUDIENCE)
    typer.echo(
        f"6. Reconcile, the safety net for missed webhooks, read {reconciled.read} members and found "
        f"{reconciled.opted_out} opt-outs the webhooks had missed."
    )
    _cancellation(ctx, gateway, sandbox, list_id)


def _cancellation(ctx: AppContext, gateway: MailchimpGateway, sandbox: SandboxHandle, list_id: str) -> None:
    """Kari's concert is cancelled: the notice planned, sent by Transactional, in the sandbox's outbox."""
    spec = NoticeSpec(
        id="oslo-jazz-cancelled",
        kind=NoticeKind.CANCELLATION,
        audience=AUDIENCE,
        target=NoticeTarget(item=CONCERT),
        template=NoticeTemplate(
            subject="Cancelled: *|ITEM|* on *|SERVICE_DATE|*",
            text="Dear *|FNAME|*, the concert is cancelled; ticket *|REFERENCE|* is refunded.",
        ),
        from_email=NOTICE_SENDER,
    )
    plan = plan_notice_now(ctx, spec, ctx.now())
    record_notice(ctx, spec, plan, ORIGIN)
    typer.echo(
        f"7. The concert {CONCERT} is cancelled. Notice plan: {len(plan.recipients)} recipients, "
        f"{len(plan.left_out)} left out, {plan.total_calls} Transactional call:"
    )
    for recipient in plan.recipients:
        typer.echo(f"   + {recipient.email}: {recipient.why}")
    with open_notice_sender(ctx.settings) as (sender, journey):
        report = send_notice(ctx, spec.id, sender, journey)
    typer.echo(
        f"   Sent ({report.kind}, never marketing): {report.sent_now} recipients in {report.calls} call; "
        f"notice {report.status}."
    )
    outbox = requests.get(
        f"{sandbox.root_url}/sandbox/transactional/outbox", params={"email": KARI.email}, timeout=10
    ).json()["messages"]
    for message in outbox:
        typer.echo(
            f'   The sandbox\'s Transactional outbox, to Kari: "{message["subject"]}" ({message["status"]})'
        )
    state = _state(ctx)
    marketing = sorted(n for n in state.segment_ids if n.startswith(SAVED_PREFIX + "Marketing: "))
    inside = [
        name
        for name in marketing
        if KARI.email in {m.email_address for m in gateway.segment_members(list_id, state.segment_ids[name])}
    ]
    typer.echo(f"   Kari is in {len(inside)} of the {len(marketing)} marketing segments.\n")


def _serve(ctx: AppContext) -> ThreadedServer:
    app = create_app(ctx)
    return start_threaded(
        lambda port: uvicorn.Config(app, host=LOCALHOST, port=port, log_level="warning", access_log=False),
        LOCALHOST,
        0,
        "consent-sync serve",
    )


def _emails(members: Iterable[DesiredMember]) -> dict[str, str]:
    return {m.subscriber_hash: m.email for m in members}


def _list_id(ctx: AppContext) -> str:
    list_id = _state(ctx).list_id
    assert list_id is not None
    return list_id


def _state(ctx: AppContext) -> AudienceStateRow:
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, AUDIENCE)
        assert state is not None
        session.expunge(state)
        return state


def _tags(gateway: MailchimpGateway, list_id: str, member: str) -> str:
    return ", ".join(sorted(gateway.member_tags(list_id, member))) or "(none)"


def _print_next_steps(now: datetime) -> None:
    use = f"consent-sync --config {DEMO_CONFIG}"
    later = (now + timedelta(days=200)).date().isoformat()
    typer.echo(f"Try next (the demo's settings are in {DEMO_CONFIG}):")
    typer.echo(f"  {use} explain ola.hansen@example.no --at {later}   # after the trip's follow-up")
    typer.echo(f"  {use} object ola.hansen@example.no                  # objection beats soft opt-in")
    typer.echo(f"  {use} explain ola.hansen@example.no --json")
    typer.echo(f"  {use} subject export per.berg@example.no")
    typer.echo("  consent-sync --help")


def _print_privacy_link(ctx: AppContext) -> None:
    """The end of the demo: Kari's personal privacy page, the link every Mailchimp e-mail carries."""
    from connector.services.preference_links import link_url

    with unit_of_work(ctx.engine) as session:
        kari = find_contact(session, KARI.email)
        assert kari is not None
        url = link_url(ctx.settings, kari.id, ctx.now())
    typer.echo("")
    typer.echo(f"Kari's own privacy page (start it with: consent-sync --config {DEMO_CONFIG} serve):")
    typer.echo(f"  {url}")
