"""The ``consent-sync`` app: the command groups of this package, registered on one typer app.

Each command module imports only typer, :mod:`connector.cli.shell` and light value types when it is
loaded; what a command uses it imports when it runs, so ``consent-sync --help`` starts at once.
"""

import typer

from connector.cli import (
    audience,
    campaigns,
    config,
    consents,
    console,
    contacts,
    database,
    demo,
    exports,
    imports,
    notices,
    relationships,
    sandbox,
    service,
    shell,
    subjects,
    sync,
)
from connector.cli import daemon as daemon_commands
from connector.cli import doctor as doctor_commands
from connector.cli.shell import ConfigOption
from connector.errors import ConsentSyncError

app = typer.Typer(
    name="consent-sync",
    help="Keep a master consent store and Mailchimp audiences in lawful agreement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": shell.HELP_WIDTH},
)


@app.callback()
def _root(config_file: ConfigOption = None) -> None:
    shell.state.config_file = config_file


def main() -> None:
    """Entry point of the ``consent-sync`` console script."""
    try:
        app()
    except ConsentSyncError as exc:
        shell.fail(exc)


app.command("demo")(demo.demo)
app.command("doctor")(doctor_commands.doctor)
app.add_typer(database.db_app, name="db")
app.command("check-config")(config.check_config)
app.add_typer(contacts.contact_app, name="contact")
app.add_typer(consents.consent_app, name="consent")
app.command("object")(consents.object_)
app.add_typer(relationships.relationship_app, name="relationship")
app.command("explain")(subjects.explain)
app.add_typer(subjects.subject_app, name="subject")
app.command("import")(imports.import_command)
app.command("export")(exports.export_command)
app.command("plan")(sync.plan)
app.command("sync")(sync.sync)
app.command("reconcile")(sync.reconcile)
app.command("status")(sync.status)
app.command("serve")(service.serve)
app.add_typer(service.webhooks_app, name="webhooks")
app.add_typer(service.admin_app, name="admin")
app.add_typer(audience.audience_app, name="audience")
app.command("daemon")(daemon_commands.daemon)
app.command("run")(daemon_commands.run)
app.command("sandbox")(sandbox.sandbox)
app.add_typer(notices.notice_app, name="notice")
app.add_typer(campaigns.campaigns_app, name="campaigns")
app.add_typer(console.console_app, name="console")
