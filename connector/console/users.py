"""Console users: added, listed and disabled (``consent-sync console user …``), and signed in.

Passwords are hashed with argon2 (argon2-cffi's defaults); the table never holds a password. Sign-in
attempts are counted per client and per user name in the database (``capture_limits``, fixed windows), so
the limit holds across workers; over it, sign-in is refused before the password is checked.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import select

from connector.core.console_roles import Role, role_of
from connector.errors import InputError, NotFoundError
from connector.services.context import AppContext
from connector.settings import OidcSettings
from connector.store.capture_limits import count_hit
from connector.store.console_tables import ConsoleUserRow
from connector.store.engine import unit_of_work

MIN_PASSWORD = 12
LOGIN_ATTEMPTS = 10
LOGIN_WINDOW = timedelta(minutes=15)
_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class LoginRefusedError(Exception):
    """Wrong name or password, a disabled user, or too many attempts (``limited``)."""

    def __init__(self, message: str, *, limited: bool = False) -> None:
        super().__init__(message)
        self.limited = limited


def add_user(ctx: AppContext, name: str, role: str, password: str) -> ConsoleUser:
    clean = name.strip()
    if not clean or len(clean) > 100 or any(c.isspace() for c in clean):
        raise InputError("name", "a user name is 1 to 100 characters without spaces")
    try:
        chosen = role_of(role)
    except ValueError as exc:
        raise InputError("role", str(exc).removeprefix("role: ")) from None
    if len(password) < MIN_PASSWORD:
        raise InputError("password", f"a password has at least {MIN_PASSWORD} characters")
    with unit_of_work(ctx.engine) as session:
        if session.get(ConsoleUserRow, clean) is not None:
            raise InputError("name", f"a console user named {clean!r} exists already")
        row = ConsoleUserRow(
            name=clean, role=chosen.value, password_hash=_HASHER.hash(password), created_at=ctx.now()
        )
        session.add(row)
        return _user(row)


def list_users(ctx: AppContext) -> list[ConsoleUser]:
    with unit_of_work(ctx.engine) as session:
        rows = session.exec(select(ConsoleUserRow).order_by(ConsoleUserRow.name)).all()
        return [_user(r) for r in rows]


def disable_user(ctx: AppContext, name: str) -> ConsoleUser:
    with unit_of_work(ctx.engine) as session:
        row = session.get(ConsoleUserRow, name)
        if row is None:
            raise NotFoundError("name", f"no console user named {name!r}")
        row.disabled = True
        session.add(row)
        return _user(row)


def find_user(ctx: AppContext, name: str) -> ConsoleUser | None:
    """An enabled user (a disabled one signs out at the next request)."""
    with unit_of_work(ctx.engine) as session:
        row = session.get(ConsoleUserRow, name)
        return None if row is None or row.disabled else _user(row)


def sign_in(ctx: AppContext, name: str, password: str, client: str) -> ConsoleUser:
    """The user, when the name and password match an enabled user and the attempt is within the limits."""
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        for kind, value in (("ip", client), ("user", name.strip().lower())):
            _, hits = count_hit(session, _key(ctx, kind, value), now, LOGIN_WINDOW)
            if hits > LOGIN_ATTEMPTS:
                raise LoginRefusedError("too many sign-in attempts; try again in 15 minutes", limited=True)
    with unit_of_work(ctx.engine) as session:
        row = session.get(ConsoleUserRow, name.strip())
        if row is None or row.disabled or not _verify(row.password_hash, password):
            raise LoginRefusedError("wrong user name or password")
        row.last_login_at = now
        session.add(row)
        return _user(row)


def sign_in_by_identity_provider(
    ctx: AppContext, name: str, role: Role | None, settings: OidcSettings
) -> ConsoleUser:
    """The user an identity provider vouched for (the caller checked its ID token).

    A disabled user is refused. With ``known_users_only`` a name never added is refused; the role from the
    claims (``role``) replaces the stored one, else the stored one stays. Without it, an unknown name with a
    role (from the claims, or ``default_role``) becomes a user, with a random password nobody knows."""
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        row = session.get(ConsoleUserRow, name)
        if row is not None and row.disabled:
            raise LoginRefusedError("this console user is disabled")
        if row is None:
            chosen = role or settings.default_role
            if settings.known_users_only or chosen is None:
                raise LoginRefusedError("you are not a console user here; ask an admin to add you")
            row = ConsoleUserRow(
                name=name,
                role=chosen.value,
                password_hash=_HASHER.hash(secrets.token_urlsafe(32)),
                created_at=now,
            )
        elif role is not None:
            row.role = role.value
        row.last_login_at = now
        session.add(row)
        return _user(row)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _key(ctx: AppContext, kind: str, value: str) -> str:
    digest = hmac.new(ctx.suppression_key, f"console-login:{kind}:{value}".encode(), hashlib.sha256)
    return f"console-{kind}:{digest.hexdigest()[:40]}"


def _user(row: ConsoleUserRow) -> ConsoleUser:
    return ConsoleUser(row.name, Role(row.role), row.disabled, row.created_at, row.last_login_at)
