"""The sync run end to end against the sandbox over HTTP, on SQLite and PostgreSQL."""

import dataclasses
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
import requests

from connector.core.model import ConsentAction, RelationshipKind
from connector.core.plan import estimate_calls
from connector.core.remote import subscriber_hash
from connector.errors import PlanRefusedError
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import BatchSubscribeReport, MemberWrite
from connector.sandbox.server import SandboxHandle
from connector.services.contacts import ContactInput, upsert_contact
from connector.services.context import AppContext
from connector.services.relationships import end_relationship
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, MirrorMemberRow
from connector.sync.apply import load_pending
from connector.sync.connect import gateway_settings
from connector.sync.run import persist_plan, plan_audience, sync_audience
from tests.conftest import FakeClock
from tests.sync.support import ORIGIN, account, newsletter, subscribe


def _mirror(ctx: AppContext, email: str) -> MirrorMemberRow | None:
    with unit_of_work(ctx.engine) as session:
        return session.get(MirrorMemberRow, (_list_id(ctx), subscriber_hash(email)))


def _list_id(ctx: AppContext) -> str:
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, "main")
        assert state is not None
        assert state.list_id is not None
        return state.list_id


def _remote_tags(gateway: MailchimpGateway, list_id: str, email: str) -> frozenset[str]:
    return gateway.member_tags(list_id, subscriber_hash(email))


def test_initial_sync_creates_member_with_marketing_tags(synced: tuple[AppContext, MailchimpGateway]) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari@example.no")
    report = sync_audience(ctx, gateway, "main")
    assert report.applied.rejected == 0
    tags = _remote_tags(gateway, _list_id(ctx), "kari@example.no")
    assert {"cs:newsletter", "cs:basis-consent"} <= tags
    mirror = _mirror(ctx, "kari@example.no")
    assert mirror is not None
    assert mirror.status == "subscribed"
    assert "cs:newsletter" in mirror.tags
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_store_opt_out_removes_marketing_tags(synced: tuple[AppContext, MailchimpGateway]) -> None:
    ctx, gateway = synced
    subscribe(ctx, "kari@example.no")
    sync_audience(ctx, gateway, "main")
    newsletter(ctx, "kari@example.no", ConsentAction.WITHDRAWN)
    sync_audience(ctx, gateway, "main")
    assert "cs:newsletter" not in _remote_tags(gateway, _list_id(ctx), "kari@example.no")


def test_person_unsubscribed_in_mailchimp_is_never_resubscribed(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "per@example.no")
    sync_audience(ctx, gateway, "main")
    list_id = _list_id(ctx)
    url = (
        f"{sandbox.root_url}/_sandbox/lists/{list_id}/members/{subscriber_hash('per@example.no')}/unsubscribe"
    )
    requests.post(url, json={}, timeout=10).raise_for_status()
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput("per@example.no", first_name="Per"), ORIGIN, ctx.now())
    report = sync_audience(ctx, gateway, "main")
    assert report.applied.opted_out == 1
    member = gateway.get_member(list_id, subscriber_hash("per@example.no"))
    assert member is not None
    assert member.status.value == "unsubscribed"
    mirror = _mirror(ctx, "per@example.no")
    assert mirror is not None
    assert mirror.status == "unsubscribed"
    sync_audience(ctx, gateway, "main")
    assert "cs:newsletter" not in _remote_tags(gateway, list_id, "per@example.no")


def test_mass_withdrawal_flows_without_allow_destructive(
    synced: tuple[AppContext, MailchimpGateway],
) -> None:
    """Withdrawals are the person's own act: the destructive guard never holds them back (issue 13)."""
    ctx, gateway = synced
    emails = [f"p{i}@example.no" for i in range(12)]
    for email in emails:
        subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    for email in emails:
        newsletter(ctx, email, ConsentAction.WITHDRAWN)
    report = sync_audience(ctx, gateway, "main")
    assert report.counts.get("RemoveTags") == 12


def _close_accounts(ctx: AppContext, clock: FakeClock, emails: Sequence[str]) -> None:
    for email in emails:
        end_relationship(ctx, email, RelationshipKind.ACCOUNT, "ACC-" + email, clock.now, ORIGIN)
    clock.advance(days=ctx.settings.policy.transactional_days_after_service + 1)


def test_mass_basis_loss_is_refused_without_allow_destructive(
    synced: tuple[AppContext, MailchimpGateway], clock: FakeClock
) -> None:
    ctx, gateway = synced
    emails = [f"p{i}@example.no" for i in range(12)]
    for email in emails:
        account(ctx, email)
    sync_audience(ctx, gateway, "main")
    _close_accounts(ctx, clock, emails)
    with pytest.raises(PlanRefusedError):
        sync_audience(ctx, gateway, "main")
    report = sync_audience(ctx, gateway, "main", allow_destructive=True)
    assert report.counts.get("Archive") == 12


def test_destructive_floor_is_configurable(
    synced: tuple[AppContext, MailchimpGateway], clock: FakeClock
) -> None:
    """By default a few basis losses always flow; with ``sync.destructive_floor = 0`` the fraction alone
    rules them. Opt-outs flow either way."""
    ctx, gateway = synced
    for email in ("a@example.no", "b@example.no"):
        account(ctx, email)
        subscribe(ctx, email)
    sync_audience(ctx, gateway, "main")
    strict = replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"sync": ctx.settings.sync.model_copy(update={"destructive_floor": 0})}
        ),
    )
    newsletter(ctx, "b@example.no", ConsentAction.WITHDRAWN)
    assert sync_audience(strict, gateway, "main").counts.get("RemoveTags") == 1
    for email in ("a@example.no", "b@example.no"):
        newsletter(ctx, email, ConsentAction.WITHDRAWN)
    _close_accounts(ctx, clock, ["a@example.no"])
    with pytest.raises(PlanRefusedError):
        sync_audience(strict, gateway, "main")
    report = sync_audience(ctx, gateway, "main")
    assert report.counts.get("Archive") == 1


def test_interrupted_run_resumes_without_duplicates(
    synced: tuple[AppContext, MailchimpGateway],
) -> None:
    """Crash between the upserts and the tag calls: Mailchimp ignores the tags in the batch subscribe
    entries here, so they stay pending for the tag calls, which crash; the next run finishes them."""
    ctx, gateway = synced
    subscribe(ctx, "a@example.no")

    class CrashError(Exception):
        pass

    class IgnoresEntryTagsCrashesOnTags(MailchimpGateway):
        def batch_subscribe(  # type: ignore[override]
            self, list_id: str, members: Sequence[MemberWrite], **kwargs: Any
        ) -> BatchSubscribeReport:
            untagged = [dataclasses.replace(m, tags=()) for m in members]
            return super().batch_subscribe(list_id, untagged, **kwargs)

        def bulk_segment(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise CrashError

    crashing = IgnoresEntryTagsCrashesOnTags(gateway_settings(ctx.settings.mailchimp))
    with pytest.raises(CrashError):
        sync_audience(ctx, crashing, "main")
    mirror = _mirror(ctx, "a@example.no")
    assert mirror is not None
    assert mirror.tags == []  # Mailchimp did not confirm them
    report = sync_audience(ctx, gateway, "main")
    assert report.resumed
    assert report.applied.rejected == 0
    assert "cs:newsletter" in _remote_tags(gateway, _list_id(ctx), "a@example.no")
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_new_members_tags_go_out_in_their_batch_subscribe(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    subscribe(ctx, "ola@example.no")
    subscribe(ctx, "eva@example.no")
    planned = plan_audience(ctx, "main")
    tag_calls = _tag_calls(sandbox)
    gateway.stats.reset()
    report = sync_audience(ctx, gateway, "main")
    assert report.applied.rejected == 0
    assert _tag_calls(sandbox) == tag_calls
    calls = gateway.stats.snapshot().calls
    assert calls["POST /lists/{list_id}"] == estimate_calls(planned.plan) == 1
    assert "POST /lists/{list_id}/segments/{segment_id}" not in calls
    for email in ("ola@example.no", "eva@example.no"):
        assert {"cs:newsletter", "cs:basis-consent"} <= _remote_tags(gateway, _list_id(ctx), email)
        mirror = _mirror(ctx, email)
        assert mirror is not None
        assert {"cs:newsletter", "cs:basis-consent"} <= set(mirror.tags)
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def test_crash_after_a_batch_subscribe_with_tags_was_sent_resumes_to_the_same_state(
    synced: tuple[AppContext, MailchimpGateway],
) -> None:
    """The answer is lost after Mailchimp applied the call: the resume sends it again (the member now
    exists) and records what Mailchimp then confirms."""
    ctx, gateway = synced
    subscribe(ctx, "per@example.no")

    class CrashError(Exception):
        pass

    class LosesTheAnswer(MailchimpGateway):
        def batch_subscribe(  # type: ignore[override]
            self, list_id: str, members: Sequence[MemberWrite], **kwargs: Any
        ) -> BatchSubscribeReport:
            super().batch_subscribe(list_id, members, **kwargs)
            raise CrashError

    with pytest.raises(CrashError):
        sync_audience(ctx, LosesTheAnswer(gateway_settings(ctx.settings.mailchimp)), "main")
    assert _mirror(ctx, "per@example.no") is None  # nothing confirmed, nothing mirrored
    report = sync_audience(ctx, gateway, "main")
    assert report.resumed
    assert report.applied.rejected == 0
    assert "cs:newsletter" in _remote_tags(gateway, _list_id(ctx), "per@example.no")
    mirror = _mirror(ctx, "per@example.no")
    assert mirror is not None
    assert "cs:newsletter" in mirror.tags
    assert len(plan_audience(ctx, "main", full=True).plan) == 0


def _tag_calls(sandbox: SandboxHandle) -> int:
    endpoints = sandbox.stats()["endpoints"]
    return sum(sum(v.values()) for k, v in endpoints.items() if k.startswith("POST") and "/segments/" in k)


def test_a_fresh_run_applies_exactly_the_steps_a_resume_would_read_back(
    synced: tuple[AppContext, MailchimpGateway],
) -> None:
    ctx, _ = synced
    subscribe(ctx, "liv@example.no")
    subscribe(ctx, "tor@example.no")
    run_id, steps = persist_plan(ctx, plan_audience(ctx, "main"), None)
    assert len(steps) == 4
    assert load_pending(ctx, run_id) == (steps, set())
