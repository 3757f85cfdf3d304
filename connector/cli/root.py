"""The ``consent-sync`` app: a lazy group of the command modules of this package.

The root group knows each command by a row of :data:`COMMANDS` (its name, one-line help and where it
lives) and imports a command's module only when that command runs or shows its own help, so
``consent-sync --help`` lists every command without loading any, and ``consent-sync explain`` loads only
:mod:`connector.cli.subjects`. Each command module imports only typer, :mod:`connector.cli.shell` and
light value types when it is loaded; what a command uses it imports when it runs.
"""

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import typer
from typer import _click as click
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

from connector.cli import shell
from connector.cli.shell import ConfigOption
from connector.errors import ConsentSyncError


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a command lives: ``module:attribute``, a command function or a ``typer.Typer`` group, and
    its one-line help as ``consent-sync --help`` shows it (the first sentence of the command's own help;
    tests/cli/test_cli_imports.py checks that the two agree)."""

    target: str
    help: str


COMMANDS: dict[str, Entry] = {
    # To add a command or a command group, add ONE row here: the name, then "module:attribute" (a
    # command function, or the module's `typer.Typer` group) and the first sentence of its help. Nothing
    # else registers it; `--help` lists the rows in this order.
    "demo": Entry(
        "connector.cli.demo:demo",
        "Run the sample flow on SQLite in the working directory and explain each contact.",
    ),
    "doctor": Entry(
        "connector.cli.doctor:doctor",
        "Check the API key and data centre, each audience's list, merge fields, segments and webhook, "
        "Transactional, and the database; say what to fix.",
    ),
    "check-config": Entry(
        "connector.cli.config:check_config",
        "Print the effective settings (file + environment) as JSON, secrets masked.",
    ),
    "object": Entry(
        "connector.cli.consents:object_",
        "Record an objection to direct marketing (absolute for its scope).",
    ),
    "explain": Entry(
        "connector.cli.subjects:explain",
        "What may be sent to this person, on which basis, until when, and why.",
    ),
    "import": Entry(
        "connector.cli.imports:import_command",
        "Import contacts, consents, relationships or a Mailchimp export.",
    ),
    "export": Entry(
        "connector.cli.exports:export_command",
        "Contacts with what may be sent to them now (set-based, streamed).",
    ),
    "plan": Entry(
        "connector.cli.sync:plan",
        "Dry-run: per-member changes, counts per operation and the API calls a sync would make.",
    ),
    "sync": Entry(
        "connector.cli.sync:sync",
        "Bring Mailchimp in line with the store (resumes an interrupted run first).",
    ),
    "reconcile": Entry(
        "connector.cli.sync:reconcile",
        "Read Mailchimp back: record opt-outs and cleaned addresses, report drift.",
    ),
    "status": Entry(
        "connector.cli.sync:status",
        "Last runs per audience and how many contacts wait for the next sync.",
    ),
    "serve": Entry(
        "connector.cli.service:serve",
        "Serve the webhook receiver, the admin API, consent capture, /healthz, /readyz and /metrics.",
    ),
    "daemon": Entry(
        "connector.cli.daemon:daemon",
        "Run the scheduler: syncs, reconciliations and housekeeping, coordinated between replicas.",
    ),
    "run": Entry(
        "connector.cli.daemon:run",
        "Run the HTTP service and the scheduler in one process (small installations).",
    ),
    "sandbox": Entry(
        "connector.cli.sandbox:sandbox",
        "Run a local Mailchimp Marketing API v3 (the sandbox) for demos, tests and benchmarks.",
    ),
    "db": Entry("connector.cli.database:db_app", "Database schema."),
    "contact": Entry("connector.cli.contacts:contact_app", "Contacts."),
    "consent": Entry("connector.cli.consents:consent_app", "Consent events (append-only)."),
    "relationship": Entry(
        "connector.cli.relationships:relationship_app", "Customer relationships (soft opt-in basis)."
    ),
    "subject": Entry("connector.cli.subjects:subject_app", "Data-subject rights: access and erasure."),
    "webhooks": Entry("connector.cli.service:webhooks_app", "Mailchimp webhooks pointing at `serve`."),
    "admin": Entry("connector.cli.service:admin_app", "The admin API."),
    "audience": Entry(
        "connector.cli.audience:audience_app", "Audiences and the Mailchimp lists they live in."
    ),
    "notice": Entry(
        "connector.cli.notices:notice_app",
        "Transactional notices: plan, send (exactly once, resumable), status.",
    ),
    "repermission": Entry(
        "connector.cli.repermission:repermission_app",
        "Re-permission campaigns: plan, send (each person asked once), status, expire.",
    ),
    "preferences": Entry(
        "connector.cli.preferences:preferences_app", "The self-service privacy page: personal links."
    ),
    "campaigns": Entry(
        "connector.cli.campaigns:campaigns_app",
        "The campaign guard: campaigns that would reach people who may only get notices.",
    ),
    "console": Entry(
        "connector.cli.console:console_app", "The web console under /console: its users and their roles."
    ),
}


def load(name: str, entry: Entry) -> click.Command:
    """The click command of one row: its module imported now, a group or a command built from it."""
    module_name, _, attribute = entry.target.partition(":")
    target = getattr(import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = get_group(target)
    else:
        command = get_command_from_info(
            CommandInfo(name=name, callback=target),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=None,
        )
    command.name = name
    return command


class _LazyCommands(MutableMapping[str, click.Command]):
    """The root group's commands: the rows of :data:`COMMANDS`, each loaded when first looked up."""

    def __init__(self, entries: dict[str, Entry]) -> None:
        self._entries = entries
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            if name not in self._entries:
                raise KeyError(name)
            self._loaded[name] = load(name, self._entries[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self._loaded if name not in self._entries)

    def __len__(self) -> int:
        return len(set(self._entries) | set(self._loaded))


class LazyGroup(TyperGroup):
    """A typer group whose commands are :data:`COMMANDS`, loaded one at a time when used."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        registered = dict(self.commands)
        self.commands = _LazyCommands(COMMANDS)
        self.commands.update(registered)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table's one-line help, laid out as click lays out loaded ones."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = COMMANDS.get(name)
            if entry is None:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, make_default_short_help(entry.help, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="consent-sync",
    cls=LazyGroup,
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
    shell.start_up()
    try:
        app()
    except ConsentSyncError as exc:
        shell.fail(exc)
