"""``consent-sync plan|sync|reconcile|status``: the store projected onto Mailchimp, and read back."""

import functools
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import progress, shell
from connector.cli.shell import AudienceOption, JsonOption

if TYPE_CHECKING:
    from connector.services.context import AppContext

FullOption = Annotated[bool, typer.Option("--full", help="Look at every contact, not only changed ones.")]
ContactOption = Annotated[str | None, typer.Option("--contact", help="Only this contact (e-mail).")]


def plan(
    audience: AudienceOption = None,
    full: FullOption = False,
    contact: ContactOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dry-run: per-member changes, counts per operation and the API calls a sync would make."""
    from connector.sync import explain as explainer
    from connector.sync.run import plan_audience, record_plan

    ctx = shell.context()
    documents = []
    sizes = {
        "batch_limit": ctx.settings.sync.batch_size,
        "batch_jobs_above": ctx.settings.sync.batch_jobs_above,
    }
    for name in shell.audiences(ctx, audience):
        with progress.bar(f"{name}: planning", None):
            planned = shell.run(functools.partial(plan_audience, ctx, name, full=full, contact=contact))
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
        shell.print_json(documents)


def sync(
    audience: AudienceOption = None,
    contact: ContactOption = None,
    full: FullOption = False,
    allow_destructive: Annotated[
        bool, typer.Option("--allow-destructive", help="Override the destructive-fraction guard.")
    ] = False,
) -> None:
    """Bring Mailchimp in line with the store (resumes an interrupted run first)."""
    ctx = shell.context()
    for name in shell.audiences(ctx, audience):
        _sync_one(ctx, name, full=full, contact=contact, allow_destructive=allow_destructive)


def _sync_one(
    ctx: "AppContext", name: str, *, full: bool, contact: str | None, allow_destructive: bool
) -> None:
    from connector.sync.connect import open_gateway
    from connector.sync.progress import SyncProgress
    from connector.sync.run import sync_audience

    watch = SyncProgress()
    with ExitStack() as bars:
        show = bars.enter_context(progress.status(f"{name}: sync"))

        def start(_total: int) -> progress.Advance:
            """Planned / sent / confirmed and the ETA, redrawn with each call's answer."""
            return lambda _n: show(watch.line())

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
                    watch=watch,
                )

        report = shell.run(work)
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


def reconcile(
    audience: AudienceOption = None,
    full: FullOption = False,
    accept_inbound: AcceptInboundOption = False,
    as_json: JsonOption = False,
) -> None:
    """Read Mailchimp back: record opt-outs and cleaned addresses, report drift."""
    ctx = shell.context()
    held = []
    for name in shell.audiences(ctx, audience):
        with progress.bar(f"{name}: reading members", None):
            report = shell.run(functools.partial(_reconcile_one, ctx, name, full, accept_inbound))
        if report.held:
            held.append(f"{name}: {report.held}")
        if as_json:
            shell.print_json(report.document())
            continue
        typer.echo(
            f"{name}: read {report.read} members; {report.opted_out} opted out, {report.cleaned} cleaned, "
            f"{len(report.drift)} drifted (healed by the next sync)"
        )
    for line in held:
        typer.echo(f"error: {line}", err=True)
    if held:
        raise SystemExit(1)


def _reconcile_one(ctx: "AppContext", name: str, full: bool, accept_inbound: bool) -> Any:
    from connector.sync.connect import open_gateway
    from connector.sync.reconcile import reconcile_audience

    with open_gateway(ctx.settings.mailchimp) as gateway:
        return reconcile_audience(ctx, gateway, name, full=full, accept_inbound=accept_inbound)


def status(as_json: JsonOption = False) -> None:
    """Last runs per audience and how many contacts wait for the next sync."""
    from connector.sync.status import status_document

    ctx = shell.context()
    document = shell.run(lambda: status_document(ctx))
    if as_json:
        shell.print_json(document)
        return
    for line in status_lines(document):
        typer.echo(line)


def status_lines(document: dict[str, Any]) -> Iterator[str]:
    """``status`` in plain words: per audience what waits, then its last runs as a table."""
    for item in document["audiences"]:
        last = _moment(item["last_sync_at"]) or "never"
        yield f"Audience {item['audience']}: {item['pending_contacts']} contacts wait for the next sync"
        yield f"  last sync: {last}"
        for warning in item["warnings"]:
            yield f"  warning: {warning}"
        runs = item["runs"]
        if not runs:
            yield "  no runs yet"
            continue
        yield f"  {'started':<20} {'kind':<10} {'status':<10} {'calls':>6}  changes"
        for run in runs:
            counts = ", ".join(f"{v} {k}" for k, v in sorted(run["counts"].items())) or "none"
            started = _moment(run["started_at"]) or ""
            yield f"  {started:<20} {run['kind']:<10} {run['status']:<10} {run['calls']:>6}  {counts}"
            if run.get("error"):
                yield f"    {run['status']}: {run['error']}"


def _moment(value: object) -> str | None:
    """An ISO date-time as ``YYYY-MM-DD HH:MM UTC`` (or as given when it is not one)."""
    if value is None:
        return None
    text = str(value)
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 and text[10] in "T " else text
