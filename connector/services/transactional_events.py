"""Mailchimp Transactional's webhook events (``mandrill_events``) into the store, in one transaction.

A hard bounce becomes a ``cleaned`` suppression of the address and a complaint (``spam``) a
``complained`` one: the address gets no more e-mail, marketing or notices. An ``unsub`` (the person used
the unsubscribe link of a Transactional e-mail) is an opt-out of marketing (``unsubscribed``); notices
still go, but Transactional rejects that address with ``unsub``, which is reported and never retried.
A ``reject`` event records Transactional's reason the same way. Suppressions are added once per address
and reason, so a repeated event changes nothing. The notice's delivery row (found by Transactional's
message id, else the metadata's notice and contact ids) shows the outcome.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from connector.core.model import SuppressionReason
from connector.errors import InputError
from connector.services.contacts import find_contact, mark_changed
from connector.services.context import AppContext, Origin
from connector.services.suppressions import suppress
from connector.store.engine import unit_of_work
from connector.store.notice_tables import NoticeDeliveryRow

_REJECT_SUPPRESSION = {
    "hard-bounce": SuppressionReason.CLEANED,
    "invalid": SuppressionReason.CLEANED,
    "spam": SuppressionReason.COMPLAINED,
    "unsub": SuppressionReason.UNSUBSCRIBED,
}


@dataclass(frozen=True, slots=True)
class TransactionalEvent:
    kind: str
    email: str | None
    message_id: str | None
    reject_reason: str | None
    metadata: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class EventEffect:
    status: str
    suppression: SuppressionReason | None
    reject_reason: str | None


def parse_events(items: Iterable[Any]) -> list[TransactionalEvent]:
    """The events of a ``mandrill_events`` array; a malformed one is an ``InputError`` naming it."""
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise InputError(f"mandrill_events[{index}]", "not a Transactional event")
        msg = _mapping(item.get("msg"))
        reject = _mapping(msg.get("reject"))
        metadata = _mapping(msg.get("metadata"))
        events.append(
            TransactionalEvent(
                kind=item["event"],
                email=msg.get("email") if isinstance(msg.get("email"), str) else None,
                message_id=str(msg.get("_id") or item.get("_id") or "") or None,
                reject_reason=reject.get("reason") or msg.get("reject_reason"),
                metadata={str(k): str(v) for k, v in metadata.items()},
            )
        )
    return events


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def effect_of(event: TransactionalEvent) -> EventEffect | None:
    """What an event means for the store (``None``: nothing, e.g. ``send``, ``open``, ``click``)."""
    match event.kind:
        case "hard_bounce":
            return EventEffect("bounced", SuppressionReason.CLEANED, "hard-bounce")
        case "spam":
            return EventEffect("complained", SuppressionReason.COMPLAINED, "spam")
        case "unsub":
            return EventEffect("unsubscribed", SuppressionReason.UNSUBSCRIBED, "unsub")
        case "reject":
            reason = event.reject_reason
            return EventEffect("rejected", _REJECT_SUPPRESSION.get(reason or "hard-bounce"), reason)
        case "soft_bounce":
            return EventEffect("soft-bounced", None, "soft-bounce")
    return None


def record_events(ctx: AppContext, events: Iterable[TransactionalEvent], origin: Origin) -> int:
    """Apply every event in one transaction; the number that changed something (suppression or row)."""
    applied = 0
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        for event in events:
            effect = effect_of(event)
            if effect is None or event.email is None:
                continue
            applied += 1
            contact = find_contact(session, event.email.strip().lower())
            if effect.suppression is not None:
                contact_id = contact.id if contact is not None else None
                suppress(
                    session, event.email, ctx.suppression_key, effect.suppression, origin, now, contact_id
                )
                if contact is not None:
                    mark_changed(session, ctx, contact, now)
            values = {"status": effect.status, "reject_reason": effect.reject_reason}
            deliveries = update(NoticeDeliveryRow).values(values)
            if event.message_id is not None:
                session.execute(deliveries.where(col(NoticeDeliveryRow.message_id) == event.message_id))
            notice_id, contact_id = event.metadata.get("notice_id"), event.metadata.get("contact_id")
            if notice_id and contact_id:
                session.execute(
                    deliveries.where(
                        col(NoticeDeliveryRow.notice_id) == notice_id,
                        col(NoticeDeliveryRow.contact_id) == contact_id,
                        col(NoticeDeliveryRow.state) == "done",
                    )
                )
    return applied
