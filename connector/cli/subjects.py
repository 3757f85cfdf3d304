"""``consent-sync explain`` and ``consent-sync subject export|erase``: what we decide, hold and erase."""

from typing import Annotated

import typer

from connector.cli import shell
from connector.cli.shell import EmailArgument, JsonOption

subject_app = shell.group("Data-subject rights: access and erasure.")


def explain(
    email: EmailArgument,
    at: Annotated[str | None, typer.Option("--at", help="Explain as of this date (end of day UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """What may be sent to this person, on which basis, until when, and why."""
    from connector.services.explain import entitlement_document, explain_contact

    ctx = shell.context()
    result = shell.run(lambda: explain_contact(ctx, email, shell.parse_moment(at, "--at", end_of_day=True)))
    if as_json:
        shell.print_json(entitlement_document(result))
        return
    for sentence in result.sentences:
        typer.echo(sentence)


@subject_app.command("export")
def subject_export(email: EmailArgument) -> None:
    """Everything held about the person, as one JSON document (Art. 15/20)."""
    from connector.services.subjects import export_subject

    ctx = shell.context()
    shell.print_json(shell.run(lambda: export_subject(ctx, email)))


@subject_app.command("erase")
def subject_erase(
    email: EmailArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase the person's data (Art. 17): keeps only a suppression hash and a PII-free tombstone."""
    from connector.services.subjects import erase_subject

    if not yes and not typer.confirm("Erase this person's data irreversibly?", err=True):
        raise typer.Exit(1)
    ctx = shell.context()
    tombstone = shell.run(lambda: erase_subject(ctx, email, shell.origin()))
    typer.echo(
        f"erased contact {tombstone.contact_id}; suppression entry kept; Mailchimp is told by the next sync"
    )
