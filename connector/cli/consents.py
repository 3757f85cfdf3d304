"""``consent-sync consent grant|confirm|withdraw`` and ``consent-sync object``: the person's choices."""

from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli import shell
from connector.cli.shell import AtOption, EmailArgument, JsonOption
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod

if TYPE_CHECKING:
    from connector.services.consents import Evidence

consent_app = shell.group("Consent events (append-only).")

PurposeOption = Annotated[list[str], typer.Option("--purpose", "-p", help="Purpose (repeatable).")]
ChannelOption = Annotated[Channel, typer.Option(help="Channel the consent covers.")]
MethodOption = Annotated[ConsentMethod, typer.Option(help="How it was collected.")]
NoticeOption = Annotated[str | None, typer.Option(help="Version of the notice text the person saw.")]
RefOption = Annotated[str | None, typer.Option("--source-ref", help="Form id, order id, ticket, file:line…")]


def _record(
    action: ConsentAction,
    email: str,
    purposes: list[str],
    channel: Channel,
    evidence: "Evidence",
    as_json: bool,
) -> None:
    from connector.services.consents import record_consent

    ctx = shell.context()
    rows = shell.run(lambda: record_consent(ctx, email, purposes, channel, action, evidence, shell.origin()))
    if as_json:
        shell.print_json([{"event_id": r.id, "purpose": r.purpose, "channel": r.channel} for r in rows])
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
    from connector.services.consents import Evidence

    evidence = Evidence(
        occurred_at=shell.when(at),
        method=method,
        notice_version=notice_version,
        ticked_by_person=not pre_ticked,
        ip=ip,
        user_agent=user_agent,
        recorded_by=recorded_by,
        source_ref=source_ref,
        double_opt_in_requested_at=shell.run(
            lambda: shell.parse_moment(double_opt_in_requested_at, "--double-opt-in-requested-at")
        ),
    )
    _record(ConsentAction.GIVEN, email, purpose, channel, evidence, as_json)


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
    from connector.services.consents import Evidence

    evidence = Evidence(
        occurred_at=shell.when(at),
        method=method,
        ip=ip,
        recorded_by=Actor.PERSON,
        source_ref=source_ref,
    )
    _record(ConsentAction.CONFIRMED, email, purpose, channel, evidence, as_json)


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
    from connector.services.consents import Evidence

    evidence = Evidence(
        occurred_at=shell.when(at),
        method=method,
        recorded_by=Actor.STAFF,
        source_ref=source_ref,
    )
    _record(ConsentAction.WITHDRAWN, email, purpose, channel, evidence, as_json)


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
    from connector.services.objections import record_objection

    ctx = shell.context()
    row = shell.run(
        lambda: record_objection(
            ctx,
            email,
            shell.origin(),
            occurred_at=shell.parse_moment(at, "--at") or ctx.now(),
            purpose=purpose,
            channel=channel,
            reason=reason,
        )
    )
    typer.echo(f"recorded objection ({row.id})")
