"""A changed ``list_id`` loses no consent: refused with one line until ``audience move``, then an initial
sync fills the new list (in the sandbox: its members and tags), and the old list's mirror stays history."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from connector.core.remote import subscriber_hash
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import ListContact
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceMoveRow, MirrorMemberRow
from connector.store.tables import ConsentEventRow, SuppressionRow
from connector.sync.reconcile import reconcile_audience
from connector.sync.run import sync_audience
from tests.cli_env import run
from tests.sync.support import account, list_id, subscribe, with_sandbox

PEOPLE = ["ada@example.no", "bo@example.no", "cy@example.no", "dag@example.no"]
LEAVER = "cy@example.no"
"""Unsubscribed in the old list: never subscribed to the new one."""


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def _seed(ctx: AppContext, gateway: MailchimpGateway, sandbox: SandboxHandle) -> str:
    """Four synced contacts (one account-only), one of them unsubscribed in Mailchimp; the old list id."""
    for email in PEOPLE[:3]:
        subscribe(ctx, email)
    account(ctx, PEOPLE[3])
    account(ctx, LEAVER)  # reachable for notices: only the old list's unsubscribe keeps them out
    sync_audience(ctx, gateway, "main")
    old = list_id(ctx)
    url = f"{sandbox.root_url}/_sandbox/lists/{old}/members/{subscriber_hash(LEAVER)}/unsubscribe"
    requests.post(url, json={}, timeout=10).raise_for_status()
    assert reconcile_audience(ctx, gateway, "main").opted_out == 1
    return old


def _empty_list(gateway: MailchimpGateway) -> str:
    contact = ListContact("Firma AS", "Storgata 1", "Oslo", "0155", "NO")
    made = gateway.create_list(
        "production",
        contact=contact,
        from_name="Firma",
        from_email="news@firma.no",
        permission_reminder="You signed up.",
    )
    return made.id


def _facts(ctx: AppContext) -> tuple[int, int]:
    with unit_of_work(ctx.engine) as session:
        withdrawn = select(func.count()).where(col(ConsentEventRow.action) == "withdrawn")
        return session.execute(withdrawn).scalar_one(), session.execute(
            select(func.count()).select_from(SuppressionRow)
        ).scalar_one()


def _env(env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path, new: str) -> dict[str, str]:
    config = tmp_path / "moved.toml"
    config.write_text(f'[[audiences]]\nname = "main"\nlist_id = "{new}"\npurposes = ["newsletter"]\n')
    return {
        **env,
        "CONSENT_SYNC_CONFIG": str(config),
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY": "test-suppression-key",
    }


def test_a_changed_list_id_loses_no_consent_and_moves_on_acknowledgement(
    ctx: AppContext, sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    local = with_sandbox(ctx, sandbox)
    local = local.__class__(
        settings=local.settings.model_copy(
            update={
                "audiences": (local.settings.audiences[0].model_copy(update={"purposes": ("newsletter",)}),)
            }
        ),
        engine=local.engine,
        suppression_key=local.suppression_key,
        clock=local.clock,
    )
    with local_gateway(local) as gateway:
        old = _seed(local, gateway, sandbox)
        new = _empty_list(gateway)
    before = _facts(local)
    moved = _env(env, sandbox, tmp_path, new)
    warning = f"audiences.main.list_id is {new} but the store last synced list {old}"

    for command in (["reconcile", "--full"], ["sync"], ["plan"], ["reconcile"]):
        code, out, err = run(moved, *command)
        assert code == 1, (command, out, err)
        assert warning in err, err
        assert len(err.strip().splitlines()) == 1, err
    code, out, _ = run(moved, "status")
    assert code == 0
    assert warning in out

    assert _facts(local) == before  # no withdrawal, no suppression written
    assert sandbox.state.audience(new) is not None
    assert not list(sandbox.state.audience(new).present_members())  # type: ignore[union-attr]

    code, out, err = run(moved, "audience", "move", "main", "--to", new)
    assert code == 0, (out, err)
    assert f"moved from list {old} to {new}" in out

    members = {m.email: m for m in sandbox.state.audience(new).present_members()}  # type: ignore[union-attr]
    assert set(members) == {"ada@example.no", "bo@example.no", "dag@example.no"}  # not the leaver
    for email in ("ada@example.no", "bo@example.no"):
        assert members[email].status.value == "subscribed"
        assert {"cs:newsletter", "cs:basis-consent"} <= members[email].tags
    assert "cs:newsletter" not in members["dag@example.no"].tags  # no basis, no marketing tag
    assert "cs:transactional" in members["dag@example.no"].tags

    code, out, err = run(moved, "reconcile", "--full")
    assert code == 0, (out, err)
    assert _facts(local) == before
    code, out, err = run(moved, "sync", "--full")
    assert code == 0, (out, err)
    assert "nothing to change" in out  # the new list is what the store says, the leaver stays out

    with unit_of_work(local.engine) as session:
        kept = session.execute(select(func.count()).where(col(MirrorMemberRow.list_id) == old)).scalar_one()
        move = session.execute(select(AudienceMoveRow)).scalar_one()
    assert kept == 4  # the old list's mirror is history
    assert (move.from_list_id, move.to_list_id) == (old, new)


def test_move_refuses_a_list_the_configuration_does_not_name(
    ctx: AppContext, sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    moved = _env(env, sandbox, tmp_path, "abc123")
    code, _, err = run(moved, "audience", "move", "main", "--to", "zzz999")
    assert code == 2
    assert "audiences.main.list_id is abc123, not zzz999" in err


def local_gateway(ctx: AppContext) -> MailchimpGateway:
    from connector.sync.connect import open_gateway

    return open_gateway(ctx.settings.mailchimp)
