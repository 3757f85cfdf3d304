"""``consent-sync preferences link EMAIL``: the person's privacy-page link, for support staff to pass on."""

import typer

from connector.cli import shell
from connector.cli.shell import EmailArgument

preferences_app = shell.group("The self-service privacy page: personal links.")


@preferences_app.command("link")
def preferences_link(email: EmailArgument) -> None:
    """Print the person's personal privacy-page link (valid at least preferences.link_valid_days)."""
    from connector.services.contacts import require_contact
    from connector.services.preference_links import link_url
    from connector.store.engine import unit_of_work

    ctx = shell.context()

    def found() -> str:
        with unit_of_work(ctx.engine) as session:
            contact_id = require_contact(session, email).id
        return link_url(ctx.settings, contact_id, ctx.now())

    typer.echo(shell.run(found))
