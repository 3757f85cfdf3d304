"""CLI commands of the HTTP service: ``serve``, ``webhooks register``, ``admin token create``."""

import os
import secrets
from typing import Annotated

import typer
import uvicorn

from connector.core.signatures import token_digest
from connector.mailchimp.payloads import WebhookEvent, WebhookSource
from connector.services.context import AppContext
from connector.settings import CONFIG_FILE_VARIABLE

webhooks_app = typer.Typer(help="Mailchimp webhooks pointing at `serve`.", no_args_is_help=True)
admin_app = typer.Typer(help="The admin API.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")


def app_from_environment() -> object:
    """uvicorn factory for worker processes: settings from ``$CONSENT_SYNC_CONFIG`` and the environment."""
    from connector.api.app import create_app
    from connector.logs import configure_logging
    from connector.services.context import build_context
    from connector.settings import load_settings

    settings = load_settings(None)
    configure_logging(settings.logging)
    return create_app(build_context(settings))


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: http.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: http.port).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL: several).")] = 1,
) -> None:
    """Serve the webhook receiver, the admin API, consent capture, /healthz, /readyz and /metrics."""
    from connector import cli as root
    from connector.api.app import create_app

    ctx = root._context()
    bind_host, bind_port = host or ctx.settings.http.host, port or ctx.settings.http.port
    options = {"host": bind_host, "port": bind_port, "access_log": False, "log_config": None}
    if workers == 1:
        uvicorn.run(root._run(lambda: create_app(ctx)), **options)  # type: ignore[arg-type]
        return
    if root._state.config_file is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(root._state.config_file.resolve())
    target = "connector.api.cli:app_from_environment"
    uvicorn.run(target, factory=True, workers=workers, **options)  # type: ignore[arg-type]


def register_webhook(
    audience: Annotated[str, typer.Option("--audience", "-a", help="Audience name.")],
    url: Annotated[str, typer.Option("--url", help="Public URL of /webhooks/mailchimp/{secret}.")],
) -> None:
    """Register Mailchimp's webhook for the audience (api source off); prints the signing secret once."""
    from connector import cli as root
    from connector.sync.connect import open_gateway

    ctx = root._context()
    list_id = root._run(lambda: _list_id(ctx, audience))
    with open_gateway(ctx.settings.mailchimp) as gateway:
        sources = (WebhookSource.USER, WebhookSource.ADMIN)
        hook = root._run(lambda: gateway.create_webhook(list_id, url, tuple(WebhookEvent), sources))
    root._run(lambda: _remember_webhook(ctx, audience, list_id, hook.id, url))
    typer.echo(f"webhook {hook.id} registered for audience {audience} (sources: user, admin; api off)")
    if hook.signing_secret:
        typer.echo("signing secret (shown once; set CONSENT_SYNC_WEBHOOKS__SIGNING_SECRET to it):")
        typer.echo(hook.signing_secret)


def _remember_webhook(ctx: AppContext, audience: str, list_id: str, webhook_id: str, url: str) -> None:
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


def _list_id(ctx: AppContext, audience: str) -> str:
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


def create_token(
    name: Annotated[str, typer.Argument(help="Who uses the token (audited as the actor).")],
    scope: Annotated[str, typer.Option("--scope", help="read or write.")] = "read",
) -> None:
    """Print a new random admin token once, and the entry for CONSENT_SYNC_ADMIN__TOKENS."""
    if scope not in ("read", "write"):
        raise typer.BadParameter("must be 'read' or 'write'", param_hint="--scope")
    if not name or ":" in name or "," in name:
        raise typer.BadParameter("must be non-empty, without ':' or ','", param_hint="NAME")
    token = secrets.token_urlsafe(32)
    typer.echo(f"token (shown once): {token}")
    typer.echo(f"add to CONSENT_SYNC_ADMIN__TOKENS (comma-separated): {name}:{scope}:{token_digest(token)}")


webhooks_app.command("register")(register_webhook)
token_app.command("create")(create_token)
