"""A run Mailchimp refuses outright (401: a key for another data centre) ends ``failed`` with the reason,
never left ``applying``; the next sync with a working key plans afresh and brings the member in."""

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from connector.core.remote import subscriber_hash
from connector.errors import FatalMailchimpError
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import SyncRunRow
from connector.sync.connect import gateway_settings
from connector.sync.run import sync_audience
from connector.sync.status import status_document
from tests.sync.support import list_id, remote_tags, subscribe

Synced = tuple[AppContext, MailchimpGateway]


def _runs(ctx: AppContext) -> list[tuple[str, str | None]]:
    query = select(SyncRunRow).order_by(col(SyncRunRow.started_at))
    with unit_of_work(ctx.engine) as session:
        return [(run.status, run.report.get("error")) for run in session.execute(query).scalars()]


def test_a_key_for_another_data_centre_fails_the_run_with_the_reason(
    synced: Synced, sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari@example.no")
    sync_audience(ctx, gateway, "main")  # the audience exists and is bound
    subscribe(ctx, "ola@example.no")
    ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]  # runs are listed by start time
    wrong = gateway_settings(ctx.settings.mailchimp).model_copy(update={"api_key": SecretStr("abc-us6")})
    with MailchimpGateway(wrong) as refused, pytest.raises(FatalMailchimpError, match="401"):
        sync_audience(ctx, refused, "main")
    (first, _), (status, error) = _runs(ctx)
    assert (first, status) == ("done", "failed")
    assert error is not None
    assert "401" in error
    assert "datacenter" in error
    assert sandbox.state.member(list_id(ctx), subscriber_hash("ola@example.no")) is None
    shown = {run["status"]: run["error"] for run in status_document(ctx)["audiences"][0]["runs"]}
    assert shown == {"done": None, "failed": error}

    ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
    sync_audience(ctx, gateway, "main")  # plans afresh: nothing to resume
    assert [status for status, _ in _runs(ctx)] == ["done", "failed", "done"]
    assert "cs:newsletter" in remote_tags(sandbox, list_id(ctx), "ola@example.no")
