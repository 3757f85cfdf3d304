"""A webhook-style opt-out (a withdrawal plus a ``sync_requests`` row) is synced within the poll interval."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.core.model import ConsentAction
from connector.core.remote import subscriber_hash
from connector.errors import FatalMailchimpError
from connector.sandbox.knobs import SandboxKnobs
from connector.store.engine import unit_of_work
from connector.store.sync_requests import request_sync
from connector.store.sync_tables import AudienceStateRow
from connector.sync.connect import open_gateway
from tests.daemon.conftest import Deployment, deploy, subscribe, wait_for

EMAIL = "kari.nordmann@example.no"


@pytest.fixture
def deployment(deployment_url: str, tmp_path: Path) -> Iterator[Deployment]:
    yield from deploy(deployment_url, tmp_path, SandboxKnobs())


def test_opt_out_is_synced_promptly_after_a_sync_request(deployment: Deployment) -> None:
    ctx = deployment.context()
    subscribe(ctx, EMAIL)
    daemon = deployment.start(
        CONSENT_SYNC_SCHEDULE__SYNC_INTERVAL_SECONDS="3600", CONSENT_SYNC_SCHEDULE__REQUEST_POLL_SECONDS="1"
    )

    def tags() -> frozenset[str]:
        with unit_of_work(ctx.engine) as session:
            state = session.get(AudienceStateRow, "main")
            list_id = state.list_id if state is not None else None
        if list_id is None:
            return frozenset()
        with open_gateway(ctx.settings.mailchimp) as gateway:
            try:
                return gateway.member_tags(list_id, subscriber_hash(EMAIL))
            except FatalMailchimpError:  # 404 until the first sync has written the member
                return frozenset()

    wait_for(lambda: "cs:newsletter" in tags(), 15, "the first scheduled sync", interval=0.2)
    subscribe(ctx, EMAIL, ConsentAction.WITHDRAWN)
    with unit_of_work(ctx.engine) as session:
        request_sync(session, "main", ctx.now())  # what the webhook receiver does
    wait_for(lambda: daemon.logs().count('"sync.run.finished"') == 1, 60, "the first run's report")
    wait_for(lambda: "cs:newsletter" not in tags(), 60, "the requested sync", interval=0.1)
    # The schedule runs hourly, so the second run can only be the one the request asked for: prompt
    # by construction (one request poll), not by how fast this machine happens to be.
    wait_for(lambda: daemon.logs().count('"sync.run.finished"') == 2, 60, "the run's report")
    assert daemon.logs().count('"sync.run.finished"') == 2
