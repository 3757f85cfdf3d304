"""Erasure leaves nothing that identifies the person (#16 item 6).

A contact goes through imports, a webhook, the admin API, syncs to the sandbox, reconcile and a notice;
then ``erase`` and the sync that deletes the member in Mailchimp. Every text, JSON and binary column of
every table, and the log, is scanned for the address (any case), name, phone and notes; the Mailchimp
subscriber hash (the MD5 of the address) is kept only until Mailchimp has confirmed the deletion.
"""

import json
import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, inspect, text

from connector.api.app import create_app
from connector.core.notice_spec import NoticeKind, NoticeSpec, NoticeTarget, NoticeTemplate
from connector.core.remote import subscriber_hash
from connector.imports.service import ImportRequest, run_import
from connector.logs import configure_logging
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.context import AppContext
from connector.services.notice_sending import send_notice
from connector.services.notices import plan_notice_now, record_notice
from connector.services.subjects import erase_subject
from connector.settings import LoggingSettings
from connector.store.engine import unit_of_work
from connector.store.tables import ErasureRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import sync_audience
from tests.api.conftest import WRITE_TOKEN, event_body, tokens_entry, with_sections
from tests.notices.fakes import FakeTransactional
from tests.sync.support import ORIGIN, list_id

EMAIL = "Siri.Nordmann@Example.no"
PHONE_E164 = "+4791234567"
IDENTIFIERS = (
    "siri.nordmann@example.no",
    "Siri",
    "Nordmann",
    "Sirisen",
    PHONE_E164,
    "91234567",
    "912 34 567",
)
SECRET = "hook-secret-erasure"


@pytest.fixture
def sender() -> FakeTransactional:
    return FakeTransactional(max_recipients_per_call=10)


def _everything(engine: Engine) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every non-empty text/JSON/binary value of every table."""
    found: list[tuple[str, str, str]] = []
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(table)]
            quoted = ", ".join(f'"{c}"' for c in columns)
            for row in connection.execute(text(f'SELECT {quoted} FROM "{table}"')):  # noqa: S608
                for column, value in zip(columns, row, strict=True):
                    if value is None or isinstance(value, int | float):
                        continue
                    shown = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                    found.append((table, column, shown))
    return found


def _mentions(engine: Engine, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    lowered = [n.lower() for n in needles]
    return [(t, c, v[:120]) for t, c, v in _everything(engine) if any(n in v.lower() for n in lowered)]


def _import(ctx: AppContext, tmp_path: Path) -> None:
    people = tmp_path / "crm.csv"
    people.write_text(
        "email,first_name,last_name,phone,notes\n"
        f"{EMAIL},Siri,Nordmann,91 23 45 67,Sirisen likes jazz\n"
        "other@example.no,Per,Hansen,,\n",
        encoding="utf-8",
    )
    run_import(ctx, ImportRequest(paths=[people], source="crm", apply=True, operator="test"))
    consents = tmp_path / "signups.csv"
    consents.write_text(
        "email,purpose,channel,action,method,notice_version,given_at,confirmed_at\n"
        f"{EMAIL},newsletter,email,given,form,web-1,2026-11-01,2026-11-01\n",
        encoding="utf-8",
    )
    run_import(ctx, ImportRequest(paths=[consents], source="web", apply=True, operator="test"))
    trips = tmp_path / "tickets.csv"
    trips.write_text(
        f"email,kind,reference,item,started_at,service_date\n{EMAIL},purchase,T-1,CONCERT-9,2026-11-20,2027-01-10\n",
        encoding="utf-8",
    )
    run_import(ctx, ImportRequest(paths=[trips], source="tickets", apply=True, operator="test"))


def _webhook_and_admin(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        body = event_body(
            "profile",
            ctx.now() - timedelta(minutes=1),
            id="8a25ff1d98",
            list_id=list_id(ctx),
            email=EMAIL.lower(),
            email_type="html",
            merges__EMAIL=EMAIL.lower(),
            merges__FNAME="Siri",
            merges__LNAME="Nordmann",
        )
        answer = client.post(
            f"/webhooks/mailchimp/{SECRET}",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200, answer.text
        queued = client.post(
            "/admin/sync",
            json={"audience": "main", "contact": EMAIL.lower()},
            headers={"Authorization": f"Bearer {WRITE_TOKEN}"},
        )
        assert queued.status_code in (200, 202), queued.text


def _notice(ctx: AppContext, sender: FakeTransactional) -> None:
    spec = NoticeSpec(
        id="cancel-9",
        kind=NoticeKind.CANCELLATION,
        audience="main",
        target=NoticeTarget(item="CONCERT-9", emails=(EMAIL.lower(),)),
        template=NoticeTemplate(subject="Cancelled", text="Dear *|FNAME|*, the concert is cancelled."),
        from_email="service@example.no",
    )
    record_notice(ctx, spec, plan_notice_now(ctx, spec, ctx.now()), ORIGIN)
    send_notice(ctx, "cancel-9", sender)


def test_after_erasure_and_deletion_nothing_identifies_the_person(
    synced: tuple[AppContext, MailchimpGateway],
    sender: FakeTransactional,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, gateway = synced
    settings = with_sections(
        base.settings,
        webhooks={"secret": SecretStr(SECRET)},
        admin={"tokens": SecretStr(tokens_entry())},
        transactional={"api_key": SecretStr("k"), "from_email": "service@example.no"},
    )
    ctx = replace(base, settings=settings)
    configure_logging(LoggingSettings(level="DEBUG", format="json"), service=True)
    _import(ctx, tmp_path)
    sync_audience(ctx, gateway, "main")
    _webhook_and_admin(ctx)
    sync_audience(ctx, gateway, "main")
    reconcile_audience(ctx, gateway, "main", full=True)
    _notice(ctx, sender)
    assert sender.delivered() == [EMAIL.lower()]
    key = subscriber_hash(EMAIL)
    assert _mentions(ctx.engine, IDENTIFIERS)  # the scan sees what is there
    assert gateway.get_member(list_id(ctx), key) is not None

    erase_subject(ctx, EMAIL, ORIGIN)
    assert _mentions(ctx.engine, IDENTIFIERS) == []
    assert _mentions(ctx.engine, (key,)), "the hash stays until Mailchimp confirms the deletion"

    sync_audience(ctx, gateway, "main")
    assert gateway.get_member(list_id(ctx), key) is None
    assert _mentions(ctx.engine, IDENTIFIERS) == []
    assert _mentions(ctx.engine, (key,)) == []
    with unit_of_work(ctx.engine) as session:
        tombstone = session.get(ErasureRow, _only_tombstone(ctx))
        assert tombstone is not None
        assert tombstone.mailchimp_outcome == "deleted"
    logged = capsys.readouterr().err + caplog.text
    assert not [line for line in logged.splitlines() if any(n.lower() in line.lower() for n in IDENTIFIERS)]
    assert all(isinstance(json.loads(line), dict) for line in logged.splitlines() if line.startswith("{"))
    logging.getLogger().handlers.clear()


def _only_tombstone(ctx: AppContext) -> str:
    with ctx.engine.connect() as connection:
        return str(connection.execute(text("SELECT contact_id FROM erasures")).scalar_one())
