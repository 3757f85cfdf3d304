"""The guard on what Mailchimp tells us: a reconcile reporting opt-outs for too much of a list records
none of them (non-zero exit, on ``status``, as a metric) until ``--accept-inbound``; an empty read of a
list the mirror says holds members is always refused; single unsubscribes still flow at once."""

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from connector.api.metrics import build_metrics
from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow, SuppressionRow
from connector.sync.connect import open_gateway
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import sync_audience
from tests.cli_env import run
from tests.sync.support import list_id, mirror_row, subscribe, with_sandbox

PEOPLE = [f"p{i:02d}@example.no" for i in range(20)]
HELD = "consent_sync_reconcile_inbound_held_members"


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def synced(ctx: AppContext, sandbox: SandboxHandle) -> Iterator[tuple[AppContext, MailchimpGateway]]:
    local = with_sandbox(ctx, sandbox)
    with open_gateway(local.settings.mailchimp) as gateway:
        for email in PEOPLE:
            subscribe(local, email)
        sync_audience(local, gateway, "main")
        assert reconcile_audience(local, gateway, "main").held is None
        yield local, gateway


def _unsubscribe(ctx: AppContext, sandbox: SandboxHandle, emails: list[str]) -> None:
    for email in emails:
        url = f"{sandbox.root_url}/_sandbox/lists/{list_id(ctx)}/members/{subscriber_hash(email)}/unsubscribe"
        requests.post(url, json={}, timeout=10).raise_for_status()


def _withdrawn(ctx: AppContext) -> int:
    with unit_of_work(ctx.engine) as session:
        query = select(func.count()).where(col(ConsentEventRow.action) == "withdrawn")
        return int(session.execute(query).scalar_one())


def _suppressed(ctx: AppContext) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(select(func.count()).select_from(SuppressionRow)).scalar_one())


def _held_metric(ctx: AppContext) -> float | None:
    return build_metrics(ctx).registry.get_sample_value(HELD, {"audience": "main"})


def _cli_env(env: dict[str, str], sandbox: SandboxHandle) -> dict[str, str]:
    return {
        **env,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "test-suppression-key",
    }


def test_a_bulk_of_opt_outs_is_held_until_accepted(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    ctx, _ = synced
    cli = _cli_env(env, sandbox)
    _unsubscribe(ctx, sandbox, PEOPLE[:12])  # 12 of 20: beyond the floor of 10 and 5 %
    before = (_withdrawn(ctx), _suppressed(ctx))

    for command in (["reconcile"], ["reconcile", "--full"], ["reconcile"]):
        code, out, err = run(cli, *command)
        assert code == 1, (command, out, err)
        assert "inbound held" in err, err
        assert "for 12 of 20 members" in err, err
        assert (_withdrawn(ctx), _suppressed(ctx)) == before  # nothing recorded, every time
    # the held members' mirror rows stay as they were, so the next reconcile finds them again
    assert mirror_row(ctx, PEOPLE[0]).status == "subscribed"  # type: ignore[union-attr]
    code, out, _ = run(cli, "status")
    assert code == 0
    assert "warning: inbound held" in out
    assert _held_metric(ctx) == 12

    code, out, err = run(cli, "reconcile", "--accept-inbound")
    assert code == 0, (out, err)
    assert "12 opted out" in out
    assert _withdrawn(ctx) == before[0] + 12 * 3  # one withdrawal per purpose of the audience
    assert mirror_row(ctx, PEOPLE[0]).status == "unsubscribed"  # type: ignore[union-attr]
    code, out, _ = run(cli, "status")
    assert "inbound held" not in out
    assert _held_metric(ctx) == 0


def test_a_single_unsubscribe_flows_at_once(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    before = _withdrawn(ctx)
    _unsubscribe(ctx, sandbox, PEOPLE[:1])
    report = reconcile_audience(ctx, gateway, "main")
    assert report.held is None
    assert report.opted_out == 1
    assert _withdrawn(ctx) == before + 3


def test_an_empty_read_is_always_refused(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    for email in PEOPLE:
        assert gateway.delete_member_permanent(list_id(ctx), subscriber_hash(email))
    before = (_withdrawn(ctx), _suppressed(ctx))
    for accept in (False, True):
        report = reconcile_audience(ctx, gateway, "main", full=True, accept_inbound=accept)
        assert report.held is not None
        assert "found no members" in report.held
        assert report.deleted == 0
        assert (_withdrawn(ctx), _suppressed(ctx)) == before
    assert not mirror_row(ctx, PEOPLE[0]).forgotten  # type: ignore[union-attr]


def test_an_empty_read_of_a_small_list_is_refused_too(ctx: AppContext, sandbox: SandboxHandle) -> None:
    local = with_sandbox(ctx, sandbox)
    with open_gateway(local.settings.mailchimp) as gateway:
        subscribe(local, "solo@example.no")
        sync_audience(local, gateway, "main")
        assert gateway.delete_member_permanent(list_id(local), subscriber_hash("solo@example.no"))
        report = reconcile_audience(local, gateway, "main", full=True)
    assert report.held is not None
    assert _suppressed(local) == 0


def test_the_floor_lets_small_lists_record(ctx: AppContext, sandbox: SandboxHandle) -> None:
    local = with_sandbox(ctx, sandbox)
    with open_gateway(local.settings.mailchimp) as gateway:
        for email in PEOPLE[:4]:
            subscribe(local, email)
        sync_audience(local, gateway, "main")
        _unsubscribe(local, sandbox, PEOPLE[:3])  # 3 of 4: far beyond 5 %, within the floor of 10
        report = reconcile_audience(local, gateway, "main")
    assert report.held is None
    assert report.opted_out == 3
