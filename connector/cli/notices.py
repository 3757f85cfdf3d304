"""``consent-sync notice plan|send|status``: transactional notices (cancellations, changes…), planned
then sent exactly once per recipient, whatever their marketing opt-outs (P4)."""

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import progress, shell
from connector.cli.shell import JsonOption
from connector.errors import InputError

if TYPE_CHECKING:
    from connector.core.notice_spec import NoticeSpec
    from connector.core.notices import NoticePlan, Recipient
    from connector.services.context import AppContext
    from connector.services.notice_sending import SendReport

notice_app = shell.group("Transactional notices: plan, send (exactly once, resumable), status.")

IdArgument = Annotated[str, typer.Argument(help="The notice's id: its idempotency key.", show_default=False)]
_LISTED = 20
"""Recipients and left-out contacts shown by ``plan`` before "… and N more" (``--json`` shows all)."""


@notice_app.command("plan")
def notice_plan(
    notice_id: IdArgument,
    kind: Annotated[
        str | None,
        typer.Option(help="cancellation, change, delay, delivery, account, security, safety or recall."),
    ] = None,
    item: Annotated[str | None, typer.Option(help="Everyone with a relationship for this item.")] = None,
    reference: Annotated[
        list[str] | None, typer.Option(help="Holders of this order/subscription id (repeatable).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="A file of references or e-mail addresses, one per line (CSV: 1st column)."),
    ] = None,
    template: Annotated[str | None, typer.Option(help="Mailchimp Transactional template name.")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject (with merge fields like *|ITEM|*).")] = None,
    text: Annotated[Path | None, typer.Option(help="File with the text body.")] = None,
    html: Annotated[Path | None, typer.Option(help="File with the HTML body.")] = None,
    var: Annotated[list[str] | None, typer.Option(help="Global merge field NAME=VALUE (repeatable).")] = None,
    audience: Annotated[
        str | None, typer.Option(help="Audience whose route is used (default: the first).")
    ] = None,
    from_email: Annotated[str | None, typer.Option(help="Sender (default transactional.from_email).")] = None,
    from_name: Annotated[
        str | None, typer.Option(help="Sender's name (default transactional.from_name).")
    ] = None,
    channel: Annotated[str, typer.Option(help="email, sms (to mobile numbers on record) or both.")] = "email",
    sms_text: Annotated[
        str | None, typer.Option(help="The SMS's text (merge fields like *|ITEM|*); default: --text.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan a notice: every recipient with its route and why, everyone left out and why, the calls.

    The notice is recorded under its id; planning the same id again shows the plan as of now (the
    same id with other content is refused). Given only the id, the recorded notice is planned again.
    """
    from connector.services.notices import plan_document, plan_notice_now, record_notice, stored_spec

    ctx = shell.context()
    if kind is None:
        spec, _status = shell.run(lambda: stored_spec(ctx, notice_id))
    else:
        spec = shell.run(
            lambda: _spec(
                ctx,
                notice_id,
                kind,
                item,
                reference,
                file,
                template,
                subject,
                text,
                html,
                var,
                audience,
                from_email,
                from_name,
                channel,
                sms_text,
            )
        )
    with progress.bar("planning", None):
        planned = shell.run(lambda: plan_notice_now(ctx, spec, ctx.now()))
    shell.run(lambda: record_notice(ctx, spec, planned, shell.origin()))
    if as_json:
        shell.print_json(plan_document(planned))
        return
    for line in render_plan(planned):
        typer.echo(line)


@notice_app.command("send")
def notice_send(
    notice_id: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking, whatever the number.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Send a planned notice; a rerun sends the rest only (each recipient at most once)."""
    from connector.services.notice_sending import open_notice_sender, report_document, send_notice

    ctx = shell.context()

    def confirm(spec: "NoticeSpec", remaining: int) -> bool:
        question = f"send {spec.kind.value} notice {notice_id!r} to {remaining} recipients?"
        return yes or typer.confirm(question, default=False)

    def work() -> "SendReport":
        with ExitStack() as bars, open_notice_sender(ctx.settings) as (sender, journey):
            done = [0]
            advance: list[progress.Advance] = []

            def moved(count: int, total: int) -> None:
                if not advance:
                    advance.append(bars.enter_context(progress.bar(f"{notice_id}: recipients", total)))
                advance[0](count - done[0])
                done[0] = count

            return send_notice(ctx, notice_id, sender, journey, moved, confirm)

    report = shell.run(work)
    if report.status == "not confirmed":
        typer.echo("nothing sent")
        raise SystemExit(1)
    if as_json:
        shell.print_json(report_document(report))
        return
    for line in render_report(report):
        typer.echo(line)


@notice_app.command("status")
def notice_status_command(notice_id: IdArgument, as_json: JsonOption = False) -> None:
    """Per recipient: delivered, queued, rejected (why), bounced…; and the totals."""
    from connector.services.notices import notice_status

    ctx = shell.context()
    status = shell.run(lambda: notice_status(ctx, notice_id))
    if as_json:
        shell.print_json(
            {
                "notice_id": status.notice_id,
                "kind": status.kind,
                "status": status.status,
                "totals": status.totals,
                "recipients": status.recipients,
            }
        )
        return
    totals = ", ".join(f"{n} {label}" for label, n in status.totals.items()) or "no recipients yet"
    typer.echo(f"notice {status.notice_id} ({status.kind}): {status.status}; {totals}")
    for row in status.recipients:
        reason = f" ({row['reject_reason']})" if row["reject_reason"] else ""
        who = row["email"] or row["contact_id"]
        if row["channel"] == "sms":
            from connector.core.identity import mask_phone

            who = f"SMS {mask_phone(row['phone'] or '')}"
        typer.echo(f"  {who}: {row['status']}{reason} via {row['route']}")


def render_plan(plan: "NoticePlan") -> list[str]:
    calls = ", ".join(f"{n} {route}" for route, n in sorted(plan.calls.items())) or "none"
    sms = sum(1 for r in plan.recipients if r.phone is not None)
    lines = [
        f"notice {plan.notice_id} ({plan.kind}): {len(plan.recipients)} recipients"
        + (f" ({sms} by SMS)" if sms else "")
        + ", "
        f"{len(plan.left_out)} left out; API calls: {plan.total_calls} ({calls})"
    ]
    for recipient in plan.recipients[:_LISTED]:
        lines.append(f"  + {_who(recipient)}: {recipient.why}")
    if len(plan.recipients) > _LISTED:
        lines.append(f"  … and {len(plan.recipients) - _LISTED} more recipients (--json lists all)")
    for left in plan.left_out[:_LISTED]:
        lines.append(f"  - {left.email or left.contact_id or '(no contact)'}: {left.why}")
    if len(plan.left_out) > _LISTED:
        lines.append(f"  … and {len(plan.left_out) - _LISTED} more left out (--json lists all)")
    return lines


def _who(recipient: "Recipient") -> str:
    """The address, or for an SMS the masked number (the whole number is in ``--json``)."""
    if recipient.phone is None:
        return recipient.email
    from connector.core.identity import mask_phone

    return f"SMS {mask_phone(recipient.phone)}"


def render_report(report: "SendReport") -> list[str]:
    totals = ", ".join(f"{n} {status}" for status, n in sorted(report.totals.items())) or "none"
    lines = [
        f"notice {report.notice_id}: kind {report.kind}, {report.status}",
        f"  this run: {report.sent_now} recipients in {report.calls} calls"
        + (f" ({report.repeated} repeated from an interrupted send)" if report.repeated else ""),
        f"  answers so far: {totals}",
    ]
    if report.left_out:
        left = ", ".join(f"{n} {reason}" for reason, n in sorted(report.left_out.items()))
        lines.append(f"  left out at send time: {left}")
    for route, n in sorted(report.waiting.items()):
        lines.append(f"  waiting: {n} by {route}" + _waiting_hint(route))
    return lines


def _waiting_hint(route: str) -> str:
    if route == "sms":
        return " (no SMS sender configured: transactional.sms_from; rerun once configured)"
    if route == "campaign":
        return " (send a campaign to the 'Transactional notices' segment in Mailchimp)"
    return " (no sender configured for this route; rerun once configured)"


def _spec(
    ctx: "AppContext",
    notice_id: str,
    kind: str,
    item: str | None,
    references: list[str] | None,
    file: Path | None,
    template: str | None,
    subject: str | None,
    text: Path | None,
    html: Path | None,
    merge: list[str] | None,
    audience: str | None,
    from_email: str | None,
    from_name: str | None,
    channel: str = "email",
    sms_text: str | None = None,
) -> "NoticeSpec":
    from connector.core.notice_spec import (
        NOTICE_KINDS,
        NoticeKind,
        NoticeSpec,
        NoticeTarget,
        NoticeTemplate,
        channels_of,
    )
    from connector.services.notice_targets import read_target_file

    if kind not in NOTICE_KINDS:
        raise InputError(
            "--kind", f"{kind!r} is not a notice kind ({', '.join(NOTICE_KINDS)}); never marketing"
        )
    listed_refs, listed_emails = read_target_file(file) if file is not None else ((), ())
    settings = ctx.settings
    return NoticeSpec(
        id=notice_id,
        kind=NoticeKind(kind),
        audience=settings.audience(audience).name if audience else settings.audiences[0].name,
        target=NoticeTarget(
            item=item,
            references=tuple(dict.fromkeys([*(references or ()), *listed_refs])),
            emails=tuple(listed_emails),
        ),
        template=NoticeTemplate(
            template_name=template,
            subject=subject,
            text=_body(text, "--text"),
            html=_body(html, "--html"),
        ),
        from_email=from_email or settings.transactional.from_email or "",
        from_name=from_name or settings.transactional.from_name,
        merge_vars=_merge_vars(merge or ()),
        channels=channels_of(channel),
        sms_text=sms_text,
    )


def _body(path: Path | None, where: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(where, f"{path}: cannot be read ({exc})") from None


def _merge_vars(pairs: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = str(pair).partition("=")
        if not separator:
            raise InputError("--var", f"{pair!r} is not NAME=VALUE")
        found[name.strip().upper()] = value
    return found
