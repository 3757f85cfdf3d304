"""Prometheus metrics of one app, on its own registry (so several apps in one process never collide)."""

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from connector.mailchimp.metrics import GatewayTotalsCollector
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow, PlanOperationRow, SyncRunRow

LAG_BUCKETS = (0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    webhooks_received: Counter
    webhooks_rejected: Counter
    webhook_lag: Histogram
    webhook_batch_size: Histogram
    webhook_batch_fallbacks: Counter
    admin_calls: Counter


def build_metrics(ctx: AppContext) -> Metrics:
    registry = CollectorRegistry()
    registry.register(_StoreCollector(ctx))
    registry.register(GatewayTotalsCollector())
    return Metrics(
        registry=registry,
        webhooks_received=Counter(
            "consent_sync_webhooks_received",
            "Mailchimp webhook events accepted, by type and outcome (applied, recorded, duplicate).",
            ["type", "outcome"],
            registry=registry,
        ),
        webhooks_rejected=Counter(
            "consent_sync_webhooks_rejected",
            "Webhook calls refused, by reason (secret, signature, payload, store).",
            ["reason"],
            registry=registry,
        ),
        webhook_lag=Histogram(
            "consent_sync_webhook_inbox_lag_seconds",
            "Seconds between Mailchimp's fired_at and the event's commit to the inbox.",
            buckets=LAG_BUCKETS,
            registry=registry,
        ),
        webhook_batch_size=Histogram(
            "consent_sync_webhook_batch_size",
            "Webhook events per committed inbox transaction (group commit; 1 for each retried event).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        webhook_batch_fallbacks=Counter(
            "consent_sync_webhook_batch_fallbacks",
            "Inbox batches whose transaction failed and were retried one event per transaction.",
            registry=registry,
        ),
        admin_calls=Counter(
            "consent_sync_admin_calls",
            "Admin API calls, by route and status code.",
            ["route", "status"],
            registry=registry,
        ),
    )


class _StoreCollector(Collector):
    """Sync runs by kind and status, and persisted operations by state, read from the store at scrape."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily(
            "consent_sync_sync_runs", "Sync runs in the store.", labels=["kind", "status"]
        )
        operations = GaugeMetricFamily(
            "consent_sync_plan_operations", "Persisted plan operations, by state.", labels=["state"]
        )
        held = GaugeMetricFamily(
            "consent_sync_reconcile_inbound_held_members",
            "Members whose opt-out, bounce or deletion a reconcile held back (inbound guard), by audience.",
            labels=["audience"],
        )
        with unit_of_work(self._ctx.engine) as session:
            by_run = select(col(SyncRunRow.kind), col(SyncRunRow.status), func.count())
            for kind, status, count in session.execute(
                by_run.group_by(col(SyncRunRow.kind), col(SyncRunRow.status))
            ):
                runs.add_metric([kind, status], count)
            by_state = select(col(PlanOperationRow.state), func.count()).group_by(col(PlanOperationRow.state))
            for state, count in session.execute(by_state):
                operations.add_metric([state], count)
            holds = select(col(AudienceStateRow.audience), col(AudienceStateRow.inbound_hold))
            for audience, hold in session.execute(holds):
                held.add_metric([audience], int((hold or {}).get("members", 0)))
        yield runs
        yield operations
        yield held
