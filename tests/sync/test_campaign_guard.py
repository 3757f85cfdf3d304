"""The campaign guard against the sandbox: campaigns a marketer left in Mailchimp are read with their
recipients, judged, kept in the store, and reported by ``consent-sync campaigns check``."""

import json
from typing import Any

import requests

from connector.mailchimp.gateway import MailchimpGateway
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.store.console_tables import CampaignCheckRow
from connector.store.engine import unit_of_work
from connector.sync.audience import SAVED_PREFIX, ensure_audience
from connector.sync.campaigns import check_audience_campaigns
from connector.sync.run import mapping_for
from tests.cli_env import run


def campaign(sandbox: SandboxHandle, **body: Any) -> str:
    answer = requests.post(f"{sandbox.root_url}/_sandbox/campaigns", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def prepared(ctx: AppContext, gateway: MailchimpGateway) -> tuple[str, dict[str, int]]:
    audience = ctx.settings.audience("main")
    target = ensure_audience(ctx, gateway, audience, mapping_for(ctx.settings, audience))
    return target.list_id, dict(target.segment_ids)


def test_campaigns_to_our_segments_pass_and_others_are_flagged(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    ctx, gateway = synced
    list_id, ids = prepared(ctx, gateway)
    good = campaign(
        sandbox,
        list_id=list_id,
        status="schedule",
        title="Offers",
        segment_opts={"saved_segment_id": ids[SAVED_PREFIX + "Marketing: offers"]},
    )
    whole = campaign(sandbox, list_id=list_id, status="save", title="Everyone")
    notices = campaign(
        sandbox,
        list_id=list_id,
        status="paused",
        title="To the notices tag",
        segment_opts={"saved_segment_id": ids[SAVED_PREFIX + "Transactional notices"]},
    )
    campaign(sandbox, list_id=list_id, status="sent", title="Sent long ago")  # not checked: already sent

    check = check_audience_campaigns(ctx, gateway, "main")

    by_id = {f.campaign_id: f for f in check.findings}
    assert set(by_id) == {good, whole, notices}
    assert by_id[good].safe
    assert "Marketing: offers" in by_id[good].reason
    assert not by_id[whole].safe
    assert "whole audience" in by_id[whole].reason
    assert not by_id[notices].safe
    assert "cs:transactional" in by_id[notices].reason
    with unit_of_work(ctx.engine) as session:
        row = session.get(CampaignCheckRow, "main")
        assert row is not None
        assert (row.campaigns, row.flagged) == (3, 2)


def test_the_command_exits_1_when_a_campaign_is_flagged(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    ctx, gateway = synced
    sandbox.runtime.reset()
    list_id, _ = prepared(ctx, gateway)
    cli_env = {
        **env,
        "CONSENT_SYNC_DATABASE__URL": ctx.settings.database.url,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_MAILCHIMP__API_KEY": "anything-us1",
        "CONSENT_SYNC_SECURITY__SUPPRESSION_KEY_FILE": str(ctx.settings.security.suppression_key_file),
    }
    code, out, err = run(cli_env, "campaigns", "check", "main")
    assert code == 0, err
    assert "0 campaigns checked, 0 flagged" in out
    campaign(sandbox, list_id=list_id, status="save", title="Everyone")
    code, out, _ = run(cli_env, "campaigns", "check", "--json")
    assert code == 1
    document = json.loads(out)
    assert document["flagged"] == 1
    assert "whole audience" in document["audiences"][0]["campaigns"][0]["reason"]


def test_the_scheduled_job_and_the_metrics_report_flagged_campaigns(
    synced: tuple[AppContext, MailchimpGateway], sandbox: SandboxHandle
) -> None:
    from prometheus_client import CollectorRegistry

    from connector.api.metrics import build_metrics
    from connector.daemon.leader import leadership_for
    from connector.daemon.metrics import DaemonMetrics
    from connector.daemon.service import Daemon
    from connector.daemon.worker import Worker

    ctx, gateway = synced
    sandbox.runtime.reset()
    list_id, _ = prepared(ctx, gateway)
    campaign(sandbox, list_id=list_id, status="schedule", title="Everyone")
    campaign(sandbox, list_id=list_id, status="paused", title="Everyone again")
    metrics = DaemonMetrics.create(CollectorRegistry())
    daemon = Daemon(ctx, gateway, metrics, leadership_for(ctx.engine))
    assert "campaign-guard:main" in [job.id for job in daemon._schedule()]
    worker = Worker(ctx, gateway, metrics, lambda: False)
    worker.check_campaigns("main")
    assert metrics.registry.get_sample_value("consent_sync_campaign_guard_flagged", {"audience": "main"}) == 2
    served = build_metrics(ctx)
    assert served.registry.get_sample_value("consent_sync_flagged_campaigns", {"audience": "main"}) == 2
