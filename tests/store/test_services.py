"""The consent store and its services, on SQLite and (when configured) PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select, text
from sqlmodel import SQLModel

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, RelationshipKind
from connector.errors import InputError, NotFoundError
from connector.services.consents import Evidence, record_consent
from connector.services.contacts import ContactInput, find_contact, upsert_contact
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.services.objections import record_objection
from connector.services.relationships import RelationshipInput, add_relationship, end_relationship
from connector.services.subjects import erase_subject, export_subject
from connector.store.engine import unit_of_work
from connector.store.migrate import is_at_head, upgrade
from connector.store.tables import ContactRow, ErasureRow, HistoryRow, SuppressionRow
from tests.conftest import FakeClock

ORIGIN = Origin(actor="test", source="cli")
EMAIL = "Kari.Nordmann@Example.NO "


def evidence(at: datetime, **overrides: object) -> Evidence:
    values: dict[str, object] = {
        "occurred_at": at,
        "method": ConsentMethod.CHECKOUT,
        "notice_version": "v1",
        "recorded_by": Actor.PERSON,
    }
    values.update(overrides)
    return Evidence(**values)  # type: ignore[arg-type]


def count_rows(ctx: AppContext) -> dict[str, int]:
    with ctx.engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in SQLModel.metadata.tables.items()
        }


def test_migrations_reach_head_and_are_idempotent(ctx: AppContext) -> None:
    upgrade(ctx.settings.database.url)
    assert is_at_head(ctx.engine)
    tables = set(inspect(ctx.engine).get_table_names())
    assert {"contacts", "consent_events", "relationships", "objections", "suppressions", "history"} <= tables


def test_contact_is_stored_normalised(ctx: AppContext, clock: FakeClock) -> None:
    with unit_of_work(ctx.engine) as session:
        row, created = upsert_contact(session, ctx, ContactInput(EMAIL, phone="912 34 567"), ORIGIN, clock())
    assert created
    assert row.email == "kari.nordmann@example.no"
    assert row.phone == "+4791234567"
    assert row.jurisdiction == "NO"


def test_adding_the_same_address_updates_instead_of_duplicating(ctx: AppContext, clock: FakeClock) -> None:
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput(EMAIL), ORIGIN, clock())
    with unit_of_work(ctx.engine) as session:
        row, created = upsert_contact(
            session, ctx, ContactInput("kari.nordmann@example.no", first_name="Kari"), ORIGIN, clock()
        )
    assert not created
    assert row.first_name == "Kari"
    assert count_rows(ctx)["contacts"] == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [(ContactInput("not-an-address"), "email"), (ContactInput("a@b.no", phone="12"), "phone")],
)
def test_bad_contact_input_names_the_field_and_writes_nothing(
    ctx: AppContext, clock: FakeClock, data: ContactInput, field: str
) -> None:
    before = count_rows(ctx)
    with pytest.raises(InputError) as raised, unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, data, ORIGIN, clock())
    assert raised.value.where == field
    assert count_rows(ctx) == before


def test_timestamps_come_back_timezone_aware_utc(ctx: AppContext, clock: FakeClock) -> None:
    oslo_noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC) + timedelta(hours=0)
    record_consent(
        ctx, EMAIL, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence(oslo_noon), ORIGIN
    )
    document = export_subject(ctx, EMAIL)
    assert document["consent_events"][0]["occurred_at"] == "2026-06-01T12:00:00+00:00"


def test_consent_records_event_history_and_review_time(ctx: AppContext, clock: FakeClock) -> None:
    purchase = clock.now - timedelta(days=1)
    add_relationship(
        ctx,
        EMAIL,
        RelationshipInput(
            RelationshipKind.PURCHASE,
            purchase,
            "8812",
            frozenset({"travel"}),
            purchase + timedelta(days=74),
            opt_out_offered=True,
        ),
        ORIGIN,
    )
    record_consent(
        ctx, EMAIL, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence(clock.now), ORIGIN
    )
    with unit_of_work(ctx.engine) as session:
        contact = find_contact(session, "kari.nordmann@example.no")
        assert contact is not None
        assert contact.next_review_at == purchase + timedelta(days=74 + 30)
        actions = (
            session.execute(select(HistoryRow.action).where(HistoryRow.contact_id == contact.id))
            .scalars()
            .all()
        )  # type: ignore[arg-type]
    assert actions == ["contact.created", "relationship.added", "consent.given"]


def test_pre_ticked_grant_is_refused_and_nothing_is_written(ctx: AppContext, clock: FakeClock) -> None:
    before = count_rows(ctx)
    with pytest.raises(InputError, match="pre-ticked"):
        record_consent(
            ctx,
            EMAIL,
            ["newsletter"],
            Channel.EMAIL,
            ConsentAction.GIVEN,
            evidence(clock.now, ticked_by_person=False),
            ORIGIN,
        )
    assert count_rows(ctx) == before


@pytest.mark.parametrize(
    ("purposes", "channel", "where"),
    [
        (["nope"], Channel.EMAIL, "--purpose"),
        (["newsletter"], Channel.SMS, "--channel"),
        ([], Channel.EMAIL, "--purpose"),
    ],
)
def test_consent_scope_is_checked_against_configuration(
    ctx: AppContext, clock: FakeClock, purposes: list[str], channel: Channel, where: str
) -> None:
    with pytest.raises(InputError) as raised:
        record_consent(ctx, EMAIL, purposes, channel, ConsentAction.GIVEN, evidence(clock.now), ORIGIN)
    assert raised.value.where == where
    assert count_rows(ctx)["contacts"] == 0


def test_explain_as_of_a_past_date_sees_only_what_had_happened(ctx: AppContext, clock: FakeClock) -> None:
    given = clock.now - timedelta(days=30)
    record_consent(ctx, EMAIL, ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence(given), ORIGIN)
    withdrawn = clock.now - timedelta(days=5)
    record_consent(
        ctx,
        EMAIL,
        ["newsletter"],
        Channel.EMAIL,
        ConsentAction.WITHDRAWN,
        evidence(withdrawn, method=ConsentMethod.MAILCHIMP),
        ORIGIN,
    )
    before = explain_contact(ctx, EMAIL, at=clock.now - timedelta(days=10))
    after = explain_contact(ctx, EMAIL)
    assert before.entitlement.allows("newsletter", Channel.EMAIL)
    assert not after.entitlement.allows("newsletter", Channel.EMAIL)
    assert any("withdrawn" in s and "Mailchimp" in s for s in after.sentences)


def test_ending_a_subscription_ends_soft_opt_in_after_follow_up(ctx: AppContext, clock: FakeClock) -> None:
    start = clock.now - timedelta(days=400)
    add_relationship(
        ctx,
        EMAIL,
        RelationshipInput(RelationshipKind.SUBSCRIPTION, start, "S-1", opt_out_offered=True),
        ORIGIN,
    )
    assert explain_contact(ctx, EMAIL).entitlement.allows("offers", Channel.EMAIL)
    end_relationship(ctx, EMAIL, RelationshipKind.SUBSCRIPTION, "S-1", clock.now, ORIGIN)
    assert explain_contact(ctx, EMAIL, at=clock.now + timedelta(days=89)).entitlement.allows(
        "offers", Channel.EMAIL
    )
    assert not explain_contact(ctx, EMAIL, at=clock.now + timedelta(days=91)).entitlement.allows(
        "offers", Channel.EMAIL
    )


def test_ending_an_unknown_relationship_is_a_clear_error(ctx: AppContext, clock: FakeClock) -> None:
    add_relationship(ctx, EMAIL, RelationshipInput(RelationshipKind.ACCOUNT, clock.now, "A-1"), ORIGIN)
    with pytest.raises(NotFoundError, match="no account 'A-2'"):
        end_relationship(ctx, EMAIL, RelationshipKind.ACCOUNT, "A-2", clock.now, ORIGIN)


def test_objection_is_stored_and_beats_soft_opt_in(ctx: AppContext, clock: FakeClock) -> None:
    add_relationship(
        ctx,
        EMAIL,
        RelationshipInput(
            RelationshipKind.ACCOUNT, clock.now - timedelta(days=3), "A-1", opt_out_offered=True
        ),
        ORIGIN,
    )
    record_objection(ctx, EMAIL, ORIGIN, occurred_at=clock.now)
    result = explain_contact(ctx, EMAIL)
    assert not result.entitlement.allows("offers", Channel.EMAIL)
    assert result.entitlement.transactional.allowed


def test_subject_export_holds_everything(ctx: AppContext, clock: FakeClock) -> None:
    add_relationship(ctx, EMAIL, RelationshipInput(RelationshipKind.ACCOUNT, clock.now, "A-1"), ORIGIN)
    record_consent(
        ctx,
        EMAIL,
        ["newsletter"],
        Channel.EMAIL,
        ConsentAction.GIVEN,
        evidence(clock.now, ip="192.0.2.1"),
        ORIGIN,
    )
    record_objection(ctx, EMAIL, ORIGIN, occurred_at=clock.now, purpose="partner_offers")
    document = export_subject(ctx, EMAIL)
    assert document["contact"]["email"] == "kari.nordmann@example.no"
    assert document["consent_events"][0]["ip"] == "192.0.2.1"
    assert len(document["relationships"]) == 1
    assert len(document["objections"]) == 1
    assert len(document["history"]) >= 4
    assert document["entitlement"]["sentences"]


def test_erasure_leaves_nothing_but_the_suppression_hash_and_tombstone(
    ctx: AppContext, clock: FakeClock
) -> None:
    add_relationship(ctx, EMAIL, RelationshipInput(RelationshipKind.ACCOUNT, clock.now, "A-1"), ORIGIN)
    record_consent(
        ctx,
        EMAIL,
        ["newsletter"],
        Channel.EMAIL,
        ConsentAction.GIVEN,
        evidence(clock.now, ip="192.0.2.1"),
        ORIGIN,
    )
    with unit_of_work(ctx.engine) as session:
        upsert_contact(
            session, ctx, ContactInput(EMAIL, first_name="Kari", phone="91234567"), ORIGIN, clock()
        )
    tombstone = erase_subject(ctx, EMAIL, ORIGIN)

    counts = count_rows(ctx)
    assert counts["contacts"] == 0
    assert counts["consent_events"] == counts["relationships"] == counts["objections"] == 0
    assert counts["suppressions"] == 1
    assert counts["erasures"] == 1
    with unit_of_work(ctx.engine) as session:
        history = session.execute(select(HistoryRow)).scalars().all()
        assert {h.action for h in history} == {"contact.erased", "suppression.added"}
        assert session.execute(select(SuppressionRow.reason)).scalar_one() == "erased"
        assert session.get(ErasureRow, tombstone.contact_id) is not None
        assert session.get(ContactRow, tombstone.contact_id) is None
    dump = _dump_database(ctx)
    for personal in ("kari", "nordmann", "91234567", "192.0.2.1"):
        assert personal not in dump.lower()


def test_erased_address_is_suppressed_when_it_comes_back(ctx: AppContext, clock: FakeClock) -> None:
    add_relationship(
        ctx,
        EMAIL,
        RelationshipInput(RelationshipKind.ACCOUNT, clock.now, "A-1", opt_out_offered=True),
        ORIGIN,
    )
    erase_subject(ctx, EMAIL, ORIGIN)
    clock.advance(days=1)
    add_relationship(
        ctx,
        EMAIL,
        RelationshipInput(RelationshipKind.ACCOUNT, clock.now, "A-2", opt_out_offered=True),
        ORIGIN,
    )
    result = explain_contact(ctx, EMAIL)
    decision = result.entitlement.decision("offers", Channel.EMAIL)
    assert decision is not None
    assert not decision.allowed
    assert "erased" in decision.reason


def _dump_database(ctx: AppContext) -> str:
    lines: list[str] = []
    with ctx.engine.connect() as connection:
        for name in SQLModel.metadata.tables:
            for row in connection.execute(text(f"SELECT * FROM {name}")):  # noqa: S608 - fixed table names
                lines.append(repr(tuple(row)))
    return "\n".join(lines)
