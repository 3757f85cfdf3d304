"""``consent-sync console user add|list|disable``: the people who sign in to ``/console``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from connector.cli import shell
from connector.cli.shell import JsonOption

console_app = shell.group("The web console under /console: its users and their roles.")
user_app = shell.group(
    "Console users: viewer (read), marketer (resync, imports), privacy (evidence, "
    "export, erasure), admin (everything, users, destructive runs)."
)
console_app.add_typer(user_app, name="user")
NameArgument = Annotated[
    str, typer.Argument(help="The user's name (what they type to sign in).", show_default=False)
]


@user_app.command("add")
def add(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help="viewer, marketer, privacy or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Add a console user (the first admin: ``consent-sync console user add NAME --role admin``)."""
    from connector.console.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    ctx = shell.context()
    user = shell.run(lambda: add_user(ctx, name, role, password))
    typer.echo(f"added console user {user.name!r} with role {user.role.value}")


@user_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """The console users, their roles, and when they last signed in."""
    from connector.console.users import list_users

    ctx = shell.context()
    users = shell.run(lambda: list_users(ctx))
    if as_json:
        shell.print_json(
            [
                {
                    "name": u.name,
                    "role": u.role.value,
                    "disabled": u.disabled,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in users
            ]
        )
        return
    for u in users:
        state = "disabled" if u.disabled else "enabled"
        seen = u.last_login_at.isoformat() if u.last_login_at else "never"
        typer.echo(f"{u.name}\t{u.role.value}\t{state}\tlast sign-in {seen}")


@user_app.command("disable")
def disable(name: NameArgument) -> None:
    """Disable a user: they cannot sign in, and a session they have ends at its next request."""
    from connector.console.users import disable_user

    ctx = shell.context()
    user = shell.run(lambda: disable_user(ctx, name))
    typer.echo(f"disabled console user {user.name!r}")
