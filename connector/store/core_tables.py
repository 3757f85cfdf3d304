"""The tables a one-contact command reads and writes, as SQLAlchemy Core table clauses: no ORM, no SQLModel.

Loading the ORM and building the SQLModel classes of :mod:`connector.store.tables` costs a one-contact
command (``explain``) about a fifth of its start; the queries it runs need only the columns and their
types (UTC date-times, JSON, decimals convert on the way out). ``tests/store/test_core_tables.py``
checks that every column here is the same column, of the same type, in :mod:`connector.store.tables`,
the schema's definition (which Alembic migrations follow).
"""

from sqlalchemy import JSON, Boolean, Integer, Numeric, String, column, table

from connector.store.types import UTCDateTime

contacts = table(
    "contacts",
    column("id", String),
    column("external_id", String),
    column("email", String),
    column("phone", String),
    column("first_name", String),
    column("last_name", String),
    column("locale", String),
    column("jurisdiction", String),
    column("processing_restricted", Boolean),
    column("created_at", UTCDateTime),
    column("updated_at", UTCDateTime),
    column("changed_at", UTCDateTime),
    column("next_review_at", UTCDateTime),
)

consent_events = table(
    "consent_events",
    column("id", String),
    column("contact_id", String),
    column("purpose", String),
    column("channel", String),
    column("action", String),
    column("occurred_at", UTCDateTime),
    column("recorded_at", UTCDateTime),
    column("method", String),
    column("source", String),
    column("notice_version", String),
    column("active_act", Boolean),
    column("ip", String),
    column("user_agent", String),
    column("double_opt_in_requested_at", UTCDateTime),
    column("recorded_by", String),
    column("source_ref", String),
)

relationships = table(
    "relationships",
    column("id", String),
    column("contact_id", String),
    column("kind", String),
    column("reference", String),
    column("item", String),
    column("categories", JSON),
    column("started_at", UTCDateTime),
    column("service_date", UTCDateTime),
    column("ended_at", UTCDateTime),
    column("opt_out_offered", Boolean),
    column("order_value", Numeric(14, 2)),
    column("source", String),
    column("recorded_at", UTCDateTime),
)

objections = table(
    "objections",
    column("id", String),
    column("contact_id", String),
    column("occurred_at", UTCDateTime),
    column("recorded_at", UTCDateTime),
    column("purpose", String),
    column("channel", String),
    column("reason", String),
    column("source", String),
    column("ip", String),
    column("user_agent", String),
)

suppressions = table(
    "suppressions",
    column("id", Integer),
    column("address_hash", String),
    column("reason", String),
    column("created_at", UTCDateTime),
    column("source", String),
)

history = table(
    "history",
    column("id", Integer),
    column("contact_id", String),
    column("occurred_at", UTCDateTime),
    column("actor", String),
    column("source", String),
    column("action", String),
    column("detail", JSON),
)
