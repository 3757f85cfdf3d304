"""What Mailchimp tells us about a person becomes store facts: opt-outs and undeliverable addresses."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, SuppressionReason
from connector.services.consents import Evidence, add_consent_event
from connector.services.contacts import mark_changed
from connector.services.context import AppContext, Origin
from connector.services.suppressions import suppress
from connector.store.tables import ContactRow

MAILCHIMP = Origin(actor="mailchimp", source="mailchimp")


def record_opt_out(
    session: Session,
    ctx: AppContext,
    contact_id: str | None,
    purposes: Sequence[str],
    now: datetime,
    why: str,
) -> bool:
    """A WITHDRAWN event per purpose of the audience; ``False`` if the contact is unknown."""
    contact = session.get(ContactRow, contact_id) if contact_id else None
    if contact is None:
        return False
    evidence = Evidence(
        occurred_at=now, method=ConsentMethod.MAILCHIMP, recorded_by=Actor.SYSTEM, source_ref=why
    )
    for purpose in purposes:
        add_consent_event(
            session, contact, purpose, Channel.EMAIL, ConsentAction.WITHDRAWN, evidence, MAILCHIMP, now
        )
    mark_changed(session, ctx, contact, now)
    return True


def record_undeliverable(
    session: Session,
    ctx: AppContext,
    email: str,
    contact_id: str | None,
    reason: SuppressionReason,
    now: datetime,
) -> None:
    """A suppression entry for the address; the contact (if known) is looked at again."""
    suppress(session, email, ctx.suppression_key, reason, MAILCHIMP, now, contact_id)
    contact = session.get(ContactRow, contact_id) if contact_id else None
    if contact is not None:
        mark_changed(session, ctx, contact, now)
