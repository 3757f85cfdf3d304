"""``consent-sync audience …``: what the store knows about the Mailchimp lists its audiences live in."""

from typing import Annotated

import typer

from connector.cli import shell

audience_app = shell.group("Audiences and the Mailchimp lists they live in.")


@audience_app.command("move")
def move(
    name: Annotated[str, typer.Argument(help="The audience's name in the configuration.")],
    to: Annotated[str, typer.Option("--to", help="The Mailchimp list id the audience now lives in.")],
    sync_now: Annotated[
        bool, typer.Option("--sync/--no-sync", help="Start the initial sync to the new list right away.")
    ] = True,
) -> None:
    """Acknowledge a new list_id: keep the old list's mirror as history and sync the new list afresh."""
    from connector.sync.connect import open_gateway
    from connector.sync.moves import move_audience
    from connector.sync.run import sync_audience

    ctx = shell.context()
    report = shell.run(lambda: move_audience(ctx, name, to))
    was = report.from_list_id or "none"
    typer.echo(
        f"audience {name} moved from list {was} to {report.to_list_id}; the old list's mirror is kept as "
        f"history ({report.abandoned_runs} unfinished runs abandoned)"
    )
    typer.echo("register the webhook for the new list: consent-sync webhooks register --audience " + name)
    if not sync_now:
        typer.echo(f"the next sync of {name} is an initial sync to the new list")
        return
    with open_gateway(ctx.settings.mailchimp) as gateway:
        synced = shell.run(lambda: sync_audience(ctx, gateway, name))
    typer.echo(
        f"{name}: initial sync to {report.to_list_id}: {synced.applied.done} operations done, "
        f"{synced.applied.rejected} rejected, {synced.applied.calls} calls"
    )
