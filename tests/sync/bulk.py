"""Seed many contacts set-based (a few multi-row INSERTs), for the kill -9 test and the benchmark.

Contact ``i`` is ``person{i}@<domain>``: a confirmed newsletter sign-up; every third also has an open
customer account (transactional notices); every fifth a trip with soft opt-in for offers.
"""

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from connector.store.tables import ConsentEventRow, ContactRow, RelationshipRow

CHUNK = 5_000


def email_of(index: int, domain: str = "firma.no") -> str:
    return f"person{index}@{domain}"


def seed_contacts(
    engine: Engine, count: int, now: datetime, *, start: int = 0, domain: str = "firma.no"
) -> None:
    """Insert contacts ``start`` … ``start + count - 1`` with their consents and relationships."""
    for first in range(start, start + count, CHUNK):
        indexes = range(first, min(first + CHUNK, start + count))
        contacts, events, relationships = [], [], []
        for index in indexes:
            contact_id = str(uuid.uuid4())
            contacts.append(_contact(contact_id, index, now, domain))
            events += _newsletter_sign_up(contact_id, now)
            relationships += _relationships(contact_id, index, now)
        with engine.begin() as connection:
            connection.execute(insert(ContactRow), contacts)
            connection.execute(insert(ConsentEventRow), events)
            if relationships:
                connection.execute(insert(RelationshipRow), relationships)


def _contact(contact_id: str, index: int, now: datetime, domain: str) -> dict[str, Any]:
    return {
        "id": contact_id,
        "email": email_of(index, domain),
        "first_name": f"Person{index}",
        "last_name": "Hansen",
        "processing_restricted": False,
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
        "next_review_at": None,
    }


def _newsletter_sign_up(contact_id: str, now: datetime) -> Iterator[dict[str, Any]]:
    for action, minutes in (("given", 0), ("confirmed", 5)):
        yield {
            "id": str(uuid.uuid4()),
            "contact_id": contact_id,
            "purpose": "newsletter",
            "channel": "email",
            "action": action,
            "occurred_at": now - timedelta(days=30, minutes=-minutes),
            "recorded_at": now,
            "method": "form",
            "source": "bulk",
            "notice_version": "n1",
            "active_act": True,
            "ip": None,
            "user_agent": None,
            "double_opt_in_requested_at": None,
            "recorded_by": "person",
            "source_ref": None,
        }


def _relationships(contact_id: str, index: int, now: datetime) -> list[dict[str, Any]]:
    found = []
    if index % 3 == 0:
        found.append(_relationship(contact_id, "account", f"ACC-{index}", now, None, opt_out=False))
    if index % 5 == 0:
        found.append(
            _relationship(
                contact_id, "purchase", f"TRIP-{index}", now, now + timedelta(days=60), opt_out=True
            )
        )
    return found


def _relationship(
    contact_id: str, kind: str, reference: str, now: datetime, service: datetime | None, *, opt_out: bool
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "contact_id": contact_id,
        "kind": kind,
        "reference": reference,
        "categories": ["travel"],
        "started_at": now - timedelta(days=10),
        "service_date": service,
        "ended_at": None,
        "opt_out_offered": opt_out,
        "order_value": None,
        "source": "bulk",
        "recorded_at": now,
    }
