"""Migration 0011 creates the re-permission tables as declared; an erased contact's rows go with it."""

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlmodel import SQLModel

import connector.store.repermission_tables  # noqa: F401  (registers the tables on the metadata)
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.subjects import erase_subject
from connector.store.engine import unit_of_work
from connector.store.repermission_tables import RepermissionCampaignRow, RepermissionMemberRow

ORIGIN = Origin("test", "test")


def test_the_migration_creates_the_tables_as_declared(ctx: AppContext) -> None:
    with ctx.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in differences if "repermission" in repr(d)] == []


def test_an_erased_contacts_rows_go_with_it(ctx: AppContext) -> None:
    evidence = Evidence(
        occurred_at=ctx.now() - timedelta(days=1),
        method=ConsentMethod.IMPORT,
        notice_version="unknown",
        recorded_by=Actor.PERSON,
    )
    (event,) = record_consent(
        ctx, "gone@example.no", ["newsletter"], Channel.EMAIL, ConsentAction.GIVEN, evidence, ORIGIN
    )
    with unit_of_work(ctx.engine) as session:
        session.add(
            RepermissionCampaignRow(
                id="c1",
                audience="main",
                purpose="newsletter",
                notice_version="v1",
                expires_days=30,
                status="sent",
                created_at=ctx.now(),
                actor="test",
            )
        )
        session.flush()
        session.add(
            RepermissionMemberRow(
                campaign_id="c1",
                contact_id=event.contact_id,
                reason="legacy",
                grant_id=event.id,
                state="asked",
                queued_at=ctx.now(),
            )
        )
    erase_subject(ctx, "gone@example.no", ORIGIN)
    with unit_of_work(ctx.engine) as session:
        assert session.execute(select(func.count()).select_from(RepermissionMemberRow)).scalar_one() == 0
