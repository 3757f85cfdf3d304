"""The daemon process: an APScheduler ``BackgroundScheduler``, the leadership loop, and graceful stop.

Jobs on every replica: ``sync-requests:<audience>`` (claim a queued request, sync). Jobs the leader adds
when it takes over and drops when it loses the lock: ``sync-schedule`` (queue every audience, at once and
then every ``sync_interval_seconds``), ``reconcile:<audience>`` (incremental, every
``reconcile_interval_seconds``), ``reconcile-full:<audience>`` (``full_reconcile_cron``),
``campaign-guard:<audience>`` (every ``campaign_check_interval_seconds``) and
``housekeeping`` (``housekeeping_cron``). Every job: ``max_instances=1``, coalesced, with misfire grace.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.daemon.leader import Leadership
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.worker import Worker
from connector.errors import ConfigError
from connector.mailchimp.gateway import MailchimpGateway
from connector.services.context import AppContext

log = structlog.get_logger(__name__)


class Daemon:
    def __init__(
        self, ctx: AppContext, gateway: MailchimpGateway, metrics: DaemonMetrics, leadership: Leadership
    ) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.leadership = leadership
        self._stopping = threading.Event()
        self._leading = False
        self._leader_jobs: list[str] = []
        self.worker = Worker(ctx, gateway, metrics, self._stopping.is_set)
        schedule = ctx.settings.schedule
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=2 * len(ctx.settings.audiences) + 2)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": schedule.misfire_grace_seconds,
            },
            timezone=UTC,
        )
        self._thread = threading.Thread(target=self._lead, name="daemon-leadership", daemon=True)

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        poll = self.ctx.settings.schedule.request_poll_seconds
        for audience in self.ctx.settings.audiences:
            self.scheduler.add_job(
                self.worker.sync_if_requested,
                IntervalTrigger(seconds=poll),
                args=[audience.name],
                id=f"sync-requests:{audience.name}",
                next_run_time=datetime.now(UTC),
            )
        self._schedule()  # a bad cron expression stops the start, not the first takeover
        self.metrics.leader.set(0)
        self.scheduler.start()
        self._thread.start()
        log.info("daemon.started", audiences=[a.name for a in self.ctx.settings.audiences])

    def request_stop(self) -> None:
        """Safe from a signal handler: jobs see it between calls; ``stop`` does the rest."""
        self._stopping.set()

    def wait(self, seconds: float) -> bool:
        """Sleep until a stop is requested or ``seconds`` pass; whether a stop was requested."""
        return self._stopping.wait(seconds)

    def stop(self, timeout: float) -> bool:
        """Stop scheduling, let jobs in flight finish their current call, release leadership.

        ``True`` when everything finished within ``timeout`` seconds.
        """
        self._stopping.set()
        log.info("daemon.stopping", timeout_seconds=timeout)
        finished = threading.Event()

        def shut_down() -> None:
            self.scheduler.shutdown(wait=True)
            finished.set()

        threading.Thread(target=shut_down, name="daemon-shutdown", daemon=True).start()
        clean = finished.wait(timeout)
        self._thread.join(timeout=1.0)
        self.leadership.release()
        self.metrics.leader.set(0)
        log.info("daemon.stopped", clean=clean)
        return clean

    # --- leadership ------------------------------------------------------------------------------

    def _lead(self) -> None:
        retry = self.ctx.settings.schedule.leader_retry_seconds
        while not self._stopping.is_set():
            self._check_leadership()
            self._stopping.wait(retry)

    def _check_leadership(self) -> None:
        if self._leading and not self.leadership.holds():
            self._step_down()
        elif not self._leading and not self._stopping.is_set() and self.leadership.try_acquire():
            self._take_over()

    def _take_over(self) -> None:
        self._leading = True
        for job in self._schedule():
            first = {"next_run_time": datetime.now(UTC)} if job.starts_now else {}
            self.scheduler.add_job(
                job.func, job.trigger, args=job.args, id=job.id, replace_existing=True, **first
            )
            self._leader_jobs.append(job.id)
        self.metrics.leader.set(1)
        log.info("daemon.leader.acquired")

    def _step_down(self) -> None:
        self._leading = False
        for job_id in self._leader_jobs:
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
        self._leader_jobs.clear()
        self.metrics.leader.set(0)
        log.warning("daemon.leader.lost")

    def _schedule(self) -> list["LeaderJob"]:
        schedule = self.ctx.settings.schedule
        every_sync = IntervalTrigger(seconds=schedule.sync_interval_seconds)
        jobs = [
            LeaderJob("sync-schedule", self.worker.request_all, every_sync, (), starts_now=True),
            LeaderJob("housekeeping", self.worker.keep_house, _cron(schedule.housekeeping_cron), ()),
        ]
        for name in (audience.name for audience in self.ctx.settings.audiences):
            every = IntervalTrigger(seconds=schedule.reconcile_interval_seconds)
            jobs.append(LeaderJob(f"reconcile:{name}", self.worker.reconcile, every, (name, False)))
            nightly = _cron(schedule.full_reconcile_cron)
            jobs.append(LeaderJob(f"reconcile-full:{name}", self.worker.reconcile, nightly, (name, True)))
            guard = IntervalTrigger(seconds=schedule.campaign_check_interval_seconds)
            jobs.append(
                LeaderJob(
                    f"campaign-guard:{name}", self.worker.check_campaigns, guard, (name,), starts_now=True
                )
            )
        return jobs


@dataclass(frozen=True, slots=True)
class LeaderJob:
    id: str
    func: Callable[..., None]
    trigger: Any
    args: tuple[object, ...]
    starts_now: bool = False


def _cron(expression: str) -> Any:
    """A five-field crontab expression (``schedule.*_cron``), in UTC."""
    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"schedule: {expression!r} is not a crontab expression: {exc}") from None
