"""The export's columns and rows, pure: a contact and its entitlement as cells.

The contact columns are named so that the file re-imports as ``--kind contacts`` (their headers are
synonyms the importer knows); the entitlement columns (``<purpose>_<channel>``, ``…_basis``,
``…_until``, ``transactional…``, ``next_review_at``) are ignored by the importer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.core.model import Channel, Entitlement
from connector.core.policy_settings import PolicySettings

CONTACT_COLUMNS = ("email", "first_name", "last_name", "phone", "external_id", "locale")


@dataclass(frozen=True, slots=True)
class ExportedContact:
    """The contact fields the export shows (a plain value; no database row)."""

    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    external_id: str | None
    locale: str | None


Scope = tuple[tuple[str, Channel], ...]


def export_scope(policy: PolicySettings, purposes: Sequence[str]) -> Scope:
    """(purpose, channel) pairs of the given purposes, in configuration order."""
    return tuple((p.name, channel) for p in policy.purposes if p.name in purposes for channel in p.channels)


def header(scope: Scope) -> list[str]:
    columns = ["contact_id", *CONTACT_COLUMNS]
    for purpose, channel in scope:
        name = f"{purpose}_{channel.value}"
        columns += [name, f"{name}_basis", f"{name}_until"]
    return [*columns, "transactional", "transactional_until", "next_review_at"]


def row(contact: ExportedContact, entitlement: Entitlement, scope: Scope) -> list[str]:
    cells = [contact.id, *(getattr(contact, name) or "" for name in CONTACT_COLUMNS)]
    for purpose, channel in scope:
        decision = entitlement.decision(purpose, channel)
        if decision is None:
            cells += ["", "", ""]
            continue
        allowed = "allow" if decision.allowed else "deny"
        cells += [allowed, decision.basis.value if decision.allowed else "", _iso(decision.valid_until)]
    transactional = entitlement.transactional
    return [
        *cells,
        "allow" if transactional.allowed else "deny",
        _iso(transactional.valid_until),
        _iso(entitlement.next_review_at),
    ]


def document(contact: ExportedContact, entitlement: Entitlement, scope: Scope) -> dict[str, object]:
    """The same as a JSON object (no neutralising: JSON is not run as a formula)."""
    return dict(zip(header(scope), row(contact, entitlement, scope), strict=True))


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
