"""``consent-sync repermission plan|send|status|expire``: ask contacts with unconfirmed, legacy or stale
consent for a purpose again, through Mailchimp's own double opt-in (README "Re-permission")."""

from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli import shell
from connector.cli.shell import JsonOption

if TYPE_CHECKING:
    from connector.core.repermission import RepermissionPlan
    from connector.services.context import AppContext
    from connector.sync.repermission import CampaignSpec, SendReport

repermission_app = shell.group(
    "Re-permission campaigns: plan, send (each person asked once), status, expire."
)

AudienceArgument = Annotated[str, typer.Argument(help="The audience (as configured).", show_default=False)]
PurposeOption = Annotated[
    str, typer.Option("--purpose", help="The purpose to ask for again.", show_default=False)
]
NoticeOption = Annotated[
    str | None,
    typer.Option(
        "--notice-version",
        help="Version of the wording the confirmation e-mail shows (default: the audience's "
        "mailchimp_notice_version).",
    ),
]
ExpiresOption = Annotated[
    int | None,
    typer.Option(
        "--expires", help="Days to confirm before the stale consent ends (default repermission.expires_days)."
    ),
]
IdOption = Annotated[
    str | None, typer.Option("--id", help="The campaign's id (default AUDIENCE-PURPOSE-YYYYMMDD).")
]
_LISTED = 20


@repermission_app.command("plan")
def repermission_plan(
    audience: AudienceArgument,
    purpose: PurposeOption,
    notice_version: NoticeOption = None,
    expires: ExpiresOption = None,
    campaign_id: IdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who would be asked and why; who is left out and why. Records the campaign; sends nothing."""
    from connector.sync.repermission import plan_campaign, plan_document, record_campaign
    from connector.sync.repermission_answers import expire_due

    ctx = shell.context()
    spec = shell.run(lambda: _spec(ctx, audience, purpose, notice_version, expires, campaign_id))
    now = ctx.now()
    shell.run(lambda: expire_due(ctx, now))
    planned = shell.run(lambda: plan_campaign(ctx, spec, now))
    shell.run(lambda: record_campaign(ctx, spec, planned, shell.origin()))
    if as_json:
        shell.print_json(plan_document(planned))
        return
    for line in render_plan(spec, planned):
        typer.echo(line)


@repermission_app.command("send")
def repermission_send(
    audience: AudienceArgument,
    purpose: PurposeOption,
    notice_version: NoticeOption = None,
    expires: ExpiresOption = None,
    campaign_id: IdOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking, whatever the number.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Set the selected members ``pending`` so Mailchimp sends its confirmation e-mail (a rerun asks only
    those not asked yet)."""
    from connector.sync.connect import open_gateway
    from connector.sync.repermission import send_campaign

    ctx = shell.context()
    spec = shell.run(lambda: _spec(ctx, audience, purpose, notice_version, expires, campaign_id))

    def confirm(campaign: "CampaignSpec", remaining: int) -> bool:
        question = f"ask {remaining} people again for {campaign.purpose!r} (campaign {campaign.id!r})?"
        return yes or typer.confirm(question, default=False)

    def work() -> "SendReport":
        with open_gateway(ctx.settings.mailchimp) as gateway:
            return send_campaign(ctx, gateway, spec, shell.origin(), confirm)

    report = shell.run(work)
    if report.status == "not confirmed":
        typer.echo("nobody asked")
        raise SystemExit(1)
    if as_json:
        shell.print_json(report.document())
        return
    for line in render_report(report):
        typer.echo(line)


@repermission_app.command("status")
def repermission_status(
    campaign_id: Annotated[str, typer.Argument(help="The campaign's id.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Per person asked: asked (until when), confirmed, expired, closed or refused; and the totals."""
    from connector.sync.repermission import campaign_status

    ctx = shell.context()
    status = shell.run(lambda: campaign_status(ctx, campaign_id))
    if as_json:
        shell.print_json(
            {
                "campaign_id": status.campaign_id,
                "audience": status.audience,
                "purpose": status.purpose,
                "notice_version": status.notice_version,
                "status": status.status,
                "totals": status.totals,
                "members": status.members,
            }
        )
        return
    totals = ", ".join(f"{n} {state}" for state, n in status.totals.items()) or "nobody asked yet"
    typer.echo(
        f"campaign {status.campaign_id} ({status.audience}, {status.purpose}): {status.status}; {totals}"
    )
    for row in status.members[:_LISTED]:
        until = f" until {row['deadline_at'][:10]}" if row["state"] == "asked" and row["deadline_at"] else ""
        typer.echo(f"  {row['email'] or row['contact_id']}: {row['state']}{until} ({row['reason']})")
    if len(status.members) > _LISTED:
        typer.echo(f"  … and {len(status.members) - _LISTED} more (--json lists all)")


@repermission_app.command("expire")
def repermission_expire(as_json: JsonOption = False) -> None:
    """End the stale consent of everyone asked whose deadline passed without a confirmation."""
    from connector.sync.repermission_answers import expire_due

    ctx = shell.context()
    report = shell.run(lambda: expire_due(ctx, ctx.now()))
    document = {"ended": report.ended, "closed": report.closed}
    if as_json:
        shell.print_json(document)
        return
    typer.echo(
        f"stale consents ended (not re-confirmed): {report.ended}; closed without change: {report.closed}"
    )


def render_plan(spec: "CampaignSpec", plan: "RepermissionPlan") -> list[str]:
    counts = plan.counts()
    asked = ", ".join(f"{n} {k.removeprefix('ask:')}" for k, n in counts.items() if k.startswith("ask:"))
    lines = [
        f"re-permission {spec.id} ({spec.audience}, {spec.purpose}, notice {spec.notice_version}, "
        f"expires after {spec.expires_days} days): {len(plan.asked)} to ask"
        + (f" ({asked})" if asked else "")
        + f", {len(plan.left_out)} left out, {plan.not_concerned} without consent for the purpose"
    ]
    for ask in plan.asked[:_LISTED]:
        lines.append(f"  + {ask.email}: {ask.why}")
    if len(plan.asked) > _LISTED:
        lines.append(f"  … and {len(plan.asked) - _LISTED} more to ask (--json lists all)")
    for left in plan.left_out[:_LISTED]:
        lines.append(f"  - {left.email or left.contact_id}: {left.why}")
    if len(plan.left_out) > _LISTED:
        lines.append(f"  … and {len(plan.left_out) - _LISTED} more left out (--json lists all)")
    return lines


def render_report(report: "SendReport") -> list[str]:
    totals = ", ".join(f"{n} {state}" for state, n in report.totals.items()) or "none"
    lines = [
        f"re-permission {report.campaign_id}: {report.status}",
        f"  this run: {report.asked_now} set pending (Mailchimp sends the confirmation e-mail)"
        + (f", {report.refused_now} refused by Mailchimp" if report.refused_now else ""),
        f"  campaign so far: {totals}",
    ]
    if report.left_out:
        left = ", ".join(f"{n} {reason}" for reason, n in sorted(report.left_out.items()))
        lines.append(f"  left out: {left}")
    return lines


def _spec(
    ctx: "AppContext",
    audience: str,
    purpose: str,
    notice_version: str | None,
    expires: int | None,
    campaign_id: str | None,
) -> "CampaignSpec":
    from connector.sync.repermission import campaign_spec

    return campaign_spec(
        ctx, audience, purpose, notice_version=notice_version, expires_days=expires, campaign_id=campaign_id
    )
