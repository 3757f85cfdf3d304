"""The ``consent-sync`` command line: each command is one unit of work with a one-line error on failure.

Exit codes: 0 success, 1 operational failure, 2 bad input (nothing was written), 3 bad configuration.
"""

import functools
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.errors import ConfigError, ConsentSyncError, InputError
from connector.logs import configure_logging
from connector.services.consents import Evidence, record_consent
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext, Origin, build_context
from connector.services.explain import entitlement_document, explain_contact
from connector.services.objections import record_objection
from connector.services.relationships import RelationshipInput, add_relationship, end_relationship
from connector.services.subjects import erase_subject, export_subject
from connector.settings import Settings, load_settings, masked
from connector.store.engine import unit_of_work
from connector.store.migrate import require_current_schema, require_initialised, upgrade

_T = TypeVar("_T")

app = typer.Typer(
    name="consent-sync",
    help="Keep a master consent store and Mailchimp audiences in lawful agreement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
contact_app = typer.Typer(help="Contacts.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent events (append-only).", no_args_is_help=True)
relationship_app = typer.Typer(help="Customer relationships (soft opt-in basis).", no_args_is_help=True)
subject_app = typer.Typer(help="Data-subject rights: access and erasure.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(contact_app, name="contact")
app.add_typer(consent_app, name="consent")
app.add_typer(relationship_app, name="relationship")
app.add_typer(subject_app, name="subject")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $CONSENT_SYNC_CONFIG or ./consent-sync.toml).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
EmailArgument = Annotated[str, typer.Argument(help="The contact's e-mail address.", show_default=False)]


class _State:
    config_file: Path | None = None


_state = _State()


@app.callback()
def _root(config: ConfigOption = None) -> None:
    _state.config_file = config


def main() -> None:
    """Entry point of the ``consent-sync`` console script."""
    try:
        app()
    except ConsentSyncError as exc:
        _fail(exc)


def _fail(exc: ConsentSyncError) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    code = 2 if isinstance(exc, InputError) else 3 if isinstance(exc, ConfigError) else 1
    raise SystemExit(code)


def _settings() -> Settings:
    settings = _run(lambda: load_settings(_state.config_file))
    configure_logging(settings.logging)
    return settings


def _context() -> AppContext:
    settings = _settings()
    _run(lambda: require_initialised(settings.database.url))  # before anything creates a file
    ctx = _run(lambda: build_context(settings))
    _run(lambda: require_current_schema(ctx.engine))
    return ctx


def _origin() -> Origin:
    return Origin(actor=f"cli:{getpass.getuser()}", source="cli")


def _run(work: Callable[[], _T]) -> _T:
    try:
        return work()
    except ConsentSyncError as exc:
        _fail(exc)


def _when(at: str | None) -> datetime:
    """The ``--at`` option of an event: the moment given, or now."""
    return _run(lambda: parse_moment(at, "--at")) or datetime.now(UTC)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_moment(text: str | None, where: str, *, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` (start of that day UTC, or its end) or an ISO 8601 date-time (UTC if no zone)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(where, f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- db ---------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (SQLite or PostgreSQL, per database.url)."""
    settings = _settings()
    _run(lambda: upgrade(settings.database.url))
    typer.echo("database is at the latest schema")


# --- contacts ---------------------------------------------------------------------------------------


@contact_app.command("add")
def contact_add(
    email: EmailArgument,
    phone: Annotated[
        str | None, typer.Option(help="Phone; stored as E.164 (default region from config).")
    ] = None,
    first_name: Annotated[str | None, typer.Option(help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="Last name.")] = None,
    external_id: Annotated[str | None, typer.Option(help="Customer id in your own systems.")] = None,
    locale: Annotated[str | None, typer.Option(help="Locale, e.g. nb-NO.")] = None,
    jurisdiction: Annotated[
        str | None, typer.Option(help="Country whose law applies (default from config).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a contact, or fill in the fields given for an existing one."""
    ctx = _context()
    data = ContactInput(email, phone, first_name, last_name, external_id, locale, jurisdiction)

    def work() -> tuple[str, bool]:
        with unit_of_work(ctx.engine) as session:
            contact, created = upsert_contact(session, ctx, data, _origin(), ctx.now())
            return contact.id, created

    contact_id, created = _run(work)
    if as_json:
        _print_json({"contact_id": contact_id, "created": created})
    else:
        typer.echo(f"{'created' if created else 'updated'} contact {contact_id}")


# --- consents ---------------------------------------------------------------------------------------

PurposeOption = Annotated[list[str], typer.Option("--purpose", "-p", help="Purpose (repeatable).")]
ChannelOption = Annotated[Channel, typer.Option(help="Channel the consent covers.")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="When it happened (YYYY-MM-DD or ISO 8601; default now).")
]
MethodOption = Annotated[ConsentMethod, typer.Option(help="How it was collected.")]
NoticeOption = Annotated[str | None, typer.Option(help="Version of the notice text the person saw.")]
RefOption = Annotated[str | None, typer.Option("--source-ref", help="Form id, order id, ticket, file:line…")]


def _consent(
    action: ConsentAction,
    email: str,
    purposes: list[str],
    channel: Channel,
    evidence: Evidence,
    as_json: bool,
) -> None:
    ctx = _context()
    rows = _run(lambda: record_consent(ctx, email, purposes, channel, action, evidence, _origin()))
    if as_json:
        _print_json([{"event_id": r.id, "purpose": r.purpose, "channel": r.channel} for r in rows])
    else:
        for row in rows:
            typer.echo(f"recorded consent {action.value}: {row.purpose} by {row.channel} ({row.id})")


@consent_app.command("grant")
def consent_grant(
    email: EmailArgument,
    purpose: PurposeOption,
    notice_version: NoticeOption = None,
    channel: ChannelOption = Channel.EMAIL,
    method: MethodOption = ConsentMethod.FORM,
    at: AtOption = None,
    pre_ticked: Annotated[
        bool, typer.Option("--pre-ticked", help="The box was pre-ticked (refused).")
    ] = False,
    ip: Annotated[str | None, typer.Option(help="IP address of the act (minimised).")] = None,
    user_agent: Annotated[str | None, typer.Option(help="User agent of the act.")] = None,
    double_opt_in_requested_at: Annotated[
        str | None, typer.Option(help="When confirmation was asked.")
    ] = None,
    recorded_by: Annotated[Actor, typer.Option(help="Who recorded it.")] = Actor.STAFF,
    source_ref: RefOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record that the person actively gave consent (with its evidence)."""
    evidence = Evidence(
        occurred_at=_when(at),
        method=method,
        notice_version=notice_version,
        ticked_by_person=not pre_ticked,
        ip=ip,
        user_agent=user_agent,
        recorded_by=recorded_by,
        source_ref=source_ref,
        double_opt_in_requested_at=_run(
            lambda: parse_moment(double_opt_in_requested_at, "--double-opt-in-requested-at")
        ),
    )
    _consent(ConsentAction.GIVEN, email, purpose, channel, evidence, as_json)


@consent_app.command("confirm")
def consent_confirm(
    email: EmailArgument,
    purpose: PurposeOption,
    channel: ChannelOption = Channel.EMAIL,
    method: MethodOption = ConsentMethod.FORM,
    at: AtOption = None,
    ip: Annotated[str | None, typer.Option(help="IP address of the confirmation click.")] = None,
    source_ref: RefOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the double opt-in confirmation of the latest grant."""
    evidence = Evidence(
        occurred_at=_when(at),
        method=method,
        ip=ip,
        recorded_by=Actor.PERSON,
        source_ref=source_ref,
    )
    _consent(ConsentAction.CONFIRMED, email, purpose, channel, evidence, as_json)


@consent_app.command("withdraw")
def consent_withdraw(
    email: EmailArgument,
    purpose: PurposeOption,
    channel: ChannelOption = Channel.EMAIL,
    method: MethodOption = ConsentMethod.API,
    at: AtOption = None,
    source_ref: RefOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record that the person withdrew consent."""
    evidence = Evidence(
        occurred_at=_when(at),
        method=method,
        recorded_by=Actor.STAFF,
        source_ref=source_ref,
    )
    _consent(ConsentAction.WITHDRAWN, email, purpose, channel, evidence, as_json)


# --- relationships ----------------------------------------------------------------------------------


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise InputError("--amount", f"{text!r} is not an amount") from None


@relationship_app.command("add")
def relationship_add(
    email: EmailArgument,
    kind: Annotated[RelationshipKind, typer.Option(help="purchase, subscription or account.")],
    started: Annotated[str, typer.Option(help="Purchase/start date (YYYY-MM-DD or ISO 8601).")],
    reference: Annotated[str | None, typer.Option(help="Order, subscription or account id.")] = None,
    service_date: Annotated[
        str | None, typer.Option(help="Delivery date, or last day of the service.")
    ] = None,
    ended: Annotated[str | None, typer.Option(help="When a subscription/account ended.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Product category (repeatable).")] = None,
    amount: Annotated[str | None, typer.Option(help="Order value.")] = None,
    opt_out_offered: Annotated[
        bool, typer.Option(help="A free opt-out was offered when the address was collected.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Record a purchase, subscription or account (adds, or updates the same kind + reference)."""
    ctx = _context()

    def work() -> str:
        data = RelationshipInput(
            kind=kind,
            started_at=parse_moment(started, "--started") or ctx.now(),
            reference=reference,
            categories=frozenset(category or ()),
            service_date=parse_moment(service_date, "--service-date"),
            ended_at=parse_moment(ended, "--ended"),
            opt_out_offered=opt_out_offered,
            order_value=_amount(amount),
        )
        return add_relationship(ctx, email, data, _origin()).id

    row_id = _run(work)
    _print_json({"relationship_id": row_id}) if as_json else typer.echo(f"recorded {kind.value} ({row_id})")


@relationship_app.command("end")
def relationship_end(
    email: EmailArgument,
    kind: Annotated[RelationshipKind, typer.Option(help="subscription or account (or purchase).")],
    reference: Annotated[str, typer.Option(help="Its id.")],
    at: AtOption = None,
) -> None:
    """End a subscription or close an account."""
    ctx = _context()
    row = _run(
        lambda: end_relationship(
            ctx, email, kind, reference, parse_moment(at, "--at") or ctx.now(), _origin()
        )
    )
    typer.echo(f"ended {kind.value} {reference} ({row.id})")


# --- objections -------------------------------------------------------------------------------------


@app.command("object")
def object_(
    email: EmailArgument,
    purpose: Annotated[str | None, typer.Option(help="Only this purpose (default: all marketing).")] = None,
    channel: Annotated[
        Channel | None, typer.Option(help="Only this channel (default: every channel).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="What the person said.")] = None,
    at: AtOption = None,
) -> None:
    """Record an objection to direct marketing (absolute for its scope)."""
    ctx = _context()
    row = _run(
        lambda: record_objection(
            ctx,
            email,
            _origin(),
            occurred_at=parse_moment(at, "--at") or ctx.now(),
            purpose=purpose,
            channel=channel,
            reason=reason,
        )
    )
    typer.echo(f"recorded objection ({row.id})")


# --- explain and subject rights --------------------------------------------------------------------


@app.command("explain")
def explain(
    email: EmailArgument,
    at: Annotated[str | None, typer.Option("--at", help="Explain as of this date (end of day UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """What may be sent to this person, on which basis, until when, and why."""
    ctx = _context()
    result = _run(lambda: explain_contact(ctx, email, parse_moment(at, "--at", end_of_day=True)))
    if as_json:
        _print_json(entitlement_document(result))
        return
    for sentence in result.sentences:
        typer.echo(sentence)


@subject_app.command("export")
def subject_export(email: EmailArgument) -> None:
    """Everything held about the person, as one JSON document (Art. 15/20)."""
    ctx = _context()
    _print_json(_run(lambda: export_subject(ctx, email)))


@subject_app.command("erase")
def subject_erase(
    email: EmailArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase the person's data (Art. 17): keeps only a suppression hash and a PII-free tombstone."""
    if not yes and not typer.confirm("Erase this person's data irreversibly?", err=True):
        raise typer.Exit(1)
    ctx = _context()
    tombstone = _run(lambda: erase_subject(ctx, email, _origin()))
    typer.echo(
        f"erased contact {tombstone.contact_id}; suppression entry kept; Mailchimp is told by the next sync"
    )


@app.command("check-config")
def check_config() -> None:
    """Print the effective settings (file + environment) as JSON, secrets masked."""
    _print_json(masked(_settings()))


# --- sync -------------------------------------------------------------------------------------------

AudienceOption = Annotated[
    str | None, typer.Option("--audience", help="Audience name (default: every configured audience).")
]
FullOption = Annotated[bool, typer.Option("--full", help="Look at every contact, not only changed ones.")]
ContactOption = Annotated[str | None, typer.Option("--contact", help="Only this contact (e-mail).")]


def _audiences(ctx: AppContext, name: str | None) -> list[str]:
    return (
        [_run(lambda: ctx.settings.audience(name)).name] if name else [a.name for a in ctx.settings.audiences]
    )


@app.command("plan")
def plan(
    audience: AudienceOption = None,
    full: FullOption = False,
    contact: ContactOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dry-run: per-member changes, counts per operation and the API calls a sync would make."""
    from connector.sync import explain as explainer
    from connector.sync.run import plan_audience, record_plan

    ctx = _context()
    documents = []
    sizes = {
        "batch_limit": ctx.settings.sync.batch_size,
        "batch_jobs_above": ctx.settings.sync.batch_jobs_above,
    }
    for name in _audiences(ctx, audience):
        planned = _run(functools.partial(plan_audience, ctx, name, full=full, contact=contact))
        record_plan(ctx, planned, contact)
        if as_json:
            documents.append(explainer.document(planned.plan, planned.emails, **sizes))
            continue
        for line in explainer.render(planned.plan, planned.emails, **sizes):
            typer.echo(line)
        if not planned.safety.ok:
            typer.echo(planned.safety.message())
            if planned.safety.opt_out_members:
                typer.echo(f"sync would still apply {planned.safety.opt_out_members} opt-outs")
    if as_json:
        _print_json(documents)


@app.command("sync")
def sync(
    audience: AudienceOption = None,
    contact: ContactOption = None,
    full: FullOption = False,
    allow_destructive: Annotated[
        bool, typer.Option("--allow-destructive", help="Override the destructive-fraction guard.")
    ] = False,
) -> None:
    """Bring Mailchimp in line with the store (resumes an interrupted run first)."""
    ctx = _context()
    for name in _audiences(ctx, audience):
        _sync_one(ctx, name, full=full, contact=contact, allow_destructive=allow_destructive)


def _sync_one(
    ctx: AppContext, name: str, *, full: bool, contact: str | None, allow_destructive: bool
) -> None:
    from connector.sync.connect import open_gateway
    from connector.sync.run import sync_audience

    bars: list[Any] = []

    def start(total: int) -> Callable[[int], None]:
        bar = typer.progressbar(length=max(total, 1), label=f"{name}: API calls")
        bar.__enter__()
        bars.append(bar)
        return bar.update

    def work() -> Any:
        with open_gateway(ctx.settings.mailchimp) as gateway:
            return sync_audience(
                ctx,
                gateway,
                name,
                full=full,
                contact=contact,
                allow_destructive=allow_destructive,
                progress=start,
            )

    try:
        report = _run(work)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    applied = report.applied
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to change"
    typer.echo(f"{name}: run {report.run_id}{' (resumed)' if report.resumed else ''}: {counts}")
    typer.echo(
        f"  {applied.calls} API calls; {applied.done} done, {applied.rejected} rejected, "
        f"{applied.opted_out} found opted out in Mailchimp"
    )
    for line in applied.rejections[:10]:
        typer.echo(f"  rejected: {line}")


AcceptInboundOption = Annotated[
    bool,
    typer.Option(
        "--accept-inbound",
        help="Record the opt-outs, bounces and deletions the inbound guard held back (after checking them).",
    ),
]


@app.command("reconcile")
def reconcile(
    audience: AudienceOption = None,
    full: FullOption = False,
    accept_inbound: AcceptInboundOption = False,
    as_json: JsonOption = False,
) -> None:
    """Read Mailchimp back: record opt-outs and cleaned addresses, report drift."""
    ctx = _context()
    held = []
    for name in _audiences(ctx, audience):
        report = _run(functools.partial(_reconcile_one, ctx, name, full, accept_inbound))
        if report.held:
            held.append(f"{name}: {report.held}")
        if as_json:
            _print_json(report.document())
            continue
        typer.echo(
            f"{name}: read {report.read} members; {report.opted_out} opted out, {report.cleaned} cleaned, "
            f"{len(report.drift)} drifted (healed by the next sync)"
        )
    for line in held:
        typer.echo(f"error: {line}", err=True)
    if held:
        raise SystemExit(1)


def _reconcile_one(ctx: AppContext, name: str, full: bool, accept_inbound: bool) -> Any:
    from connector.sync.connect import open_gateway
    from connector.sync.reconcile import reconcile_audience

    with open_gateway(ctx.settings.mailchimp) as gateway:
        return reconcile_audience(ctx, gateway, name, full=full, accept_inbound=accept_inbound)


@app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Last runs per audience and how many contacts wait for the next sync."""
    from connector.sync.status import status_document

    ctx = _context()
    document = _run(lambda: status_document(ctx))
    if as_json:
        _print_json(document)
        return
    for item in document["audiences"]:
        typer.echo(
            f"{item['audience']}: {item['pending_contacts']} contacts waiting; "
            f"last sync {item['last_sync_at']}"
        )
        for warning in item["warnings"]:
            typer.echo(f"  warning: {warning}")
        for run in item["runs"]:
            typer.echo(
                f"  {run['started_at']} {run['kind']} {run['status']} {run['counts']} calls={run['calls']}"
            )


def _register_optional_commands() -> None:
    """Commands from other packages, registered here so the CLI stays one app."""
    from connector.demo import demo
    from connector.sandbox.cli import sandbox

    app.command("demo")(demo)
    app.command("sandbox")(sandbox)
    from connector.imports.cli import import_command

    app.command("import")(import_command)
    from connector.exports.cli import export_command

    app.command("export")(export_command)
    from connector.daemon_cli import daemon, run
    from connector.doctor_cli import doctor

    app.command("doctor")(doctor)

    app.command("daemon")(daemon)
    app.command("run")(run)
    from connector.api.cli import admin_app, serve, webhooks_app

    app.command("serve")(serve)
    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(admin_app, name="admin")
    from connector.audience_cli import audience_app

    app.add_typer(audience_app, name="audience")


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
