"""``consent-sync contact add``: contacts with normalised e-mail and phone."""

from typing import Annotated

import typer

from connector.cli import shell
from connector.cli.shell import EmailArgument, JsonOption

contact_app = shell.group("Contacts.")


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
    from connector.services.contacts import ContactInput, upsert_contact
    from connector.store.engine import unit_of_work

    ctx = shell.context()
    data = ContactInput(email, phone, first_name, last_name, external_id, locale, jurisdiction)

    def work() -> tuple[str, bool]:
        with unit_of_work(ctx.engine) as session:
            contact, created = upsert_contact(session, ctx, data, shell.origin(), ctx.now())
            return contact.id, created

    contact_id, created = shell.run(work)
    if as_json:
        shell.print_json({"contact_id": contact_id, "created": created})
    else:
        typer.echo(f"{'created' if created else 'updated'} contact {contact_id}")
