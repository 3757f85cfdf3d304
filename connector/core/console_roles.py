"""Who may do what in the console: four roles, each a set of permissions (pure)."""

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    MARKETER = "marketer"
    PRIVACY = "privacy"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    RESYNC = "resync"
    IMPORT = "import"
    NOTICES = "notices"
    EVIDENCE = "evidence"
    OBJECTION = "objection"
    EXPORT = "export"
    ERASE = "erase"
    DESTRUCTIVE = "destructive"
    USERS = "users"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.MARKETER: frozenset({Permission.READ, Permission.RESYNC, Permission.IMPORT, Permission.NOTICES}),
    Role.PRIVACY: frozenset(
        {Permission.READ, Permission.EVIDENCE, Permission.OBJECTION, Permission.EXPORT, Permission.ERASE}
    ),
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


def role_of(text: str, where: str = "role") -> Role:
    """The role named ``text``; ``ValueError`` naming the roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"{where}: unknown role {text!r} (one of {names})") from None
