"""What the daemon's jobs do: claim and run requested syncs, reconcile, ask for syncs, keep house.

Every job catches its own failures: it logs one line, counts the error class, and leaves the next tick
to try again. A sync that another process is running (``SyncBusyError``) is put back in the queue.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from connector.daemon.housekeeping import keep_house
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.requests import claim_request, request_sync
from connector.errors import ListMovedError, PlanRefusedError, SyncBusyError
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.context import AppContext
from connector.sync.campaigns import check_audience_campaigns
from connector.sync.progress import SyncProgress
from connector.sync.reconcile import reconcile_audience
from connector.sync.repermission_answers import expire_due
from connector.sync.run import SyncReport, sync_audience

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Worker:
    ctx: AppContext
    gateway: MailchimpGateway
    metrics: DaemonMetrics
    should_stop: Callable[[], bool]

    def request_all(self) -> None:
        """The schedule's tick: ask for a sync of every audience (any replica may take each one)."""
        for audience in self.ctx.settings.audiences:
            request_sync(self.ctx.engine, audience.name, self.ctx.now())

    def sync_if_requested(self, audience: str) -> None:
        if self.should_stop():
            return
        requested = claim_request(self.ctx.engine, audience)
        if requested is not None:
            self.sync(audience)

    def sync(self, audience: str) -> None:
        started = time.monotonic()
        watch = SyncProgress()
        self.metrics.progress.watch(audience, watch)
        try:
            report = sync_audience(
                self.ctx, self.gateway, audience, should_stop=self.should_stop, watch=watch
            )
        except SyncBusyError:
            log.info("sync.busy", audience=audience)
            request_sync(self.ctx.engine, audience, self.ctx.now())
            return
        except (PlanRefusedError, ListMovedError) as exc:
            self._failed("sync", audience, exc, level=logging.WARNING)
            return
        except Exception as exc:
            self._failed("sync", audience, exc)
            return
        self._finished(report, time.monotonic() - started)
        if report.resumed or report.applied.stopped:
            request_sync(self.ctx.engine, audience, self.ctx.now())  # plan what changed meanwhile / resume

    def reconcile(self, audience: str, full: bool) -> None:
        if self.should_stop():
            return
        try:
            report = reconcile_audience(self.ctx, self.gateway, audience, full=full)
        except SyncBusyError:
            log.info("reconcile.busy", audience=audience, full=full)
            return
        except ListMovedError as exc:
            self._failed("reconcile", audience, exc, level=logging.WARNING)
            return
        except Exception as exc:
            self._failed("reconcile", audience, exc)
            return
        self.metrics.inbound_held.labels(audience).set(report.held_members if report.held else 0)
        if report.held:
            log.warning("reconcile.inbound.held", audience=audience, full=full, reason=report.held)
        self.metrics.drift.labels(audience).set(len(report.drift))
        self.metrics.last_reconcile.labels(audience).set(time.time())
        log.info("reconcile.run.finished", **report.document(), full=full)
        if report.opted_out or report.cleaned or report.drift:
            request_sync(self.ctx.engine, audience, self.ctx.now())

    def check_campaigns(self, audience: str) -> None:
        """The campaign guard's tick: flagged campaigns go to the metric and, if any, a warning."""
        if self.should_stop():
            return
        try:
            check = check_audience_campaigns(self.ctx, self.gateway, audience)
        except Exception as exc:
            self._failed("campaign-guard", audience, exc)
            return
        self.metrics.flagged_campaigns.labels(audience).set(len(check.flagged))
        if check.flagged:
            ids = [f.campaign_id for f in check.flagged]
            log.warning("campaigns.flagged", audience=audience, campaigns=ids)

    def keep_house(self) -> None:
        try:
            removed = keep_house(self.ctx.engine, self.ctx.settings.schedule, self.ctx.now())
            expired = expire_due(self.ctx, self.ctx.now())  # re-permission deadlines
        except Exception as exc:
            self._failed("housekeeping", "", exc)
            return
        log.info("daemon.housekeeping.done", removed=removed, repermission_ended=expired.ended)
        if expired.ended:
            self.request_all()  # the ended consents reach Mailchimp promptly

    def _finished(self, report: SyncReport, seconds: float) -> None:
        applied = report.applied
        outcome = "stopped" if applied.stopped else "done"
        log.info(
            "sync.run.finished",
            run_id=report.run_id,
            audience=report.audience,
            outcome=outcome,
            resumed=report.resumed,
            counts=report.counts,
            calls=applied.calls,
            done=applied.done,
            rejected=applied.rejected,
            opted_out_in_mailchimp=applied.opted_out,
            duration_ms=round(seconds * 1000),
        )
        self.metrics.runs.labels(report.audience, outcome).inc()
        self.metrics.calls.labels(report.audience).inc(applied.calls)
        self.metrics.duration.labels(report.audience).observe(seconds)
        if not applied.stopped:
            self.metrics.last_sync.labels(report.audience).set(time.time())
            self.metrics.plan_size.labels(report.audience).set(sum(report.counts.values()))

    def _failed(self, job: str, audience: str, exc: Exception, level: int = logging.ERROR) -> None:
        self.metrics.errors.labels(audience, job, type(exc).__name__).inc()
        log.log(
            level,
            "daemon.job.failed",
            job=job,
            audience=audience,
            error=type(exc).__name__,
            reason=str(exc)[:300],
        )
