"""``consent-sync serve``, ``webhooks register`` and ``admin token create``: the HTTP service."""

import os
import secrets
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli import shell

if TYPE_CHECKING:
    from connector.services.context import AppContext

webhooks_app = shell.group("Mailchimp webhooks pointing at `serve`.")
admin_app = shell.group("The admin API.")
token_app = shell.group("Admin API tokens.")
admin_app.add_typer(token_app, name="token")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: http.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: http.port).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (PostgreSQL: several; /metrics sums them).")
    ] = 1,
) -> None:
    """Serve the webhook receiver, the admin API, consent capture, /healthz, /readyz and /metrics."""
    import uvicorn

    from connector.api.app import create_app
    from connector.settings import CONFIG_FILE_VARIABLE

    ctx = shell.context(service=True)
    bind_host, bind_port = host or ctx.settings.http.host, port or ctx.settings.http.port
    options = {"host": bind_host, "port": bind_port, "access_log": False, "log_config": None}
    if workers == 1:
        uvicorn.run(shell.run(lambda: create_app(ctx)), **options)  # type: ignore[arg-type]
        return
    from connector.api.metrics import multiprocess_directory

    if shell.state.config_file is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(shell.state.config_file.resolve())
    target = "connector.api.factory:app_from_environment"
    with multiprocess_directory():  # /metrics on any worker counts every worker's events
        uvicorn.run(target, factory=True, workers=workers, **options)  # type: ignore[arg-type]


@webhooks_app.command("register")
def register_webhook(
    audience: Annotated[str, typer.Option("--audience", "-a", help="Audience name.")],
    url: Annotated[str, typer.Option("--url", help="Public URL of /webhooks/mailchimp/{secret}.")],
) -> None:
    """Register Mailchimp's webhook for the audience (api source off); prints the signing secret once."""
    from connector.mailchimp.payloads import WebhookEvent, WebhookSource
    from connector.sync.connect import open_gateway

    ctx = shell.context()
    list_id = shell.run(lambda: _list_id(ctx, audience))
    with open_gateway(ctx.settings.mailchimp) as gateway:
        sources = (WebhookSource.USER, WebhookSource.ADMIN)
        hook = shell.run(lambda: gateway.create_webhook(list_id, url, tuple(WebhookEvent), sources))
    shell.run(lambda: _remember_webhook(ctx, audience, list_id, hook.id, url))
    typer.echo(f"webhook {hook.id} registered for audience {audience} (sources: user, admin; api off)")
    if hook.signing_secret:
        typer.echo("signing secret (shown once; set CONSENT_SYNC_WEBHOOKS__SIGNING_SECRET to it):")
        typer.echo(hook.signing_secret)


def _remember_webhook(ctx: "AppContext", audience: str, list_id: str, webhook_id: str, url: str) -> None:
    """The registration, under the list it belongs to (the URL only as a hash: it carries the secret)."""
    import hashlib

    from connector.store.engine import unit_of_work
    from connector.store.sync_tables import WebhookRegistrationRow
    from connector.sync.binding import data_centre

    with unit_of_work(ctx.engine) as session:
        session.merge(
            WebhookRegistrationRow(
                list_id=list_id,
                webhook_id=webhook_id,
                dc=data_centre(ctx.settings.mailchimp),
                audience=audience,
                url_hash=hashlib.sha256(url.encode()).hexdigest(),
                registered_at=ctx.now(),
            )
        )


def _list_id(ctx: "AppContext", audience: str) -> str:
    from connector.errors import ConfigError
    from connector.store.engine import unit_of_work
    from connector.store.sync_tables import AudienceStateRow

    configured = ctx.settings.audience(audience).list_id
    if configured:
        return configured
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, audience)
    if state is None or not state.list_id:
        raise ConfigError(f"audiences.{audience}.list_id: not set, and no sync has created the audience yet")
    return state.list_id


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="Who uses the token (audited as the actor).")],
    scope: Annotated[str, typer.Option("--scope", help="read or write.")] = "read",
) -> None:
    """Print a new random admin token once, and the entry for CONSENT_SYNC_ADMIN__TOKENS."""
    from connector.core.signatures import token_digest

    if scope not in ("read", "write"):
        raise typer.BadParameter("must be 'read' or 'write'", param_hint="--scope")
    if not name or ":" in name or "," in name:
        raise typer.BadParameter("must be non-empty, without ':' or ','", param_hint="NAME")
    token = secrets.token_urlsafe(32)
    typer.echo(f"token (shown once): {token}")
    typer.echo(f"add to CONSENT_SYNC_ADMIN__TOKENS (comma-separated): {name}:{scope}:{token_digest(token)}")
