"""Explain what may be sent to a contact, now or as of a past date (P8)."""

from dataclasses import dataclass
from datetime import datetime

from connector.core.model import Entitlement
from connector.core.policy import decide
from connector.core.wording import explanation
from connector.services.contact_rows import require_contact_row
from connector.services.context import AppContext
from connector.store.facts import load_contact_facts


@dataclass(frozen=True, slots=True)
class Explanation:
    contact_id: str
    entitlement: Entitlement
    sentences: tuple[str, ...]
    notice_route: str | None = None
    """How a transactional notice reaches the person today, in words (``None`` for a past date or when
    notices are not allowed)."""


def explain_contact(ctx: AppContext, email: str, at: datetime | None = None) -> Explanation:
    moment = at or ctx.now()
    with ctx.engine.connect() as connection:  # Core reads: the ORM is not loaded
        contact = require_contact_row(connection, email)
        facts = load_contact_facts(connection, contact, ctx.suppression_key)
    entitlement = decide(facts, ctx.settings.policy, moment)
    sentences = explanation(entitlement, ctx.settings.policy)
    route = None
    if at is None and entitlement.transactional.allowed:
        from connector.services.notices import explain_route  # the notices' tables only when needed

        route = explain_route(ctx, email)
        sentences.insert(len(entitlement.marketing) + 1, f"Transactional route today: {route}")
    return Explanation(contact.id, entitlement, tuple(sentences), route)


def entitlement_document(result: Explanation) -> dict[str, object]:
    """The explanation as plain JSON-ready data."""
    entitlement = result.entitlement
    return {
        "contact_id": result.contact_id,
        "decided_at": entitlement.decided_at.isoformat(),
        "marketing": [
            {
                "purpose": d.purpose,
                "channel": d.channel.value,
                "allowed": d.allowed,
                "basis": d.basis.value,
                "rule": d.rule.value,
                "reason": d.reason,
                "valid_until": d.valid_until.isoformat() if d.valid_until else None,
                "records": [{"kind": r.kind.value, "id": r.id} for r in d.records],
            }
            for d in entitlement.marketing
        ],
        "transactional": {
            "allowed": entitlement.transactional.allowed,
            "rule": entitlement.transactional.rule.value,
            "reason": entitlement.transactional.reason,
            "valid_until": _iso(entitlement.transactional.valid_until),
            "records": [{"kind": r.kind.value, "id": r.id} for r in entitlement.transactional.records],
            "route": result.notice_route,
        },
        "next_review_at": _iso(entitlement.next_review_at),
        "sentences": list(result.sentences),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
