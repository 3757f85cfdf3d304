"""The doctor at daemon start: refuse an unusable database; warn, in the log, about everything else."""

import structlog

from connector.doctor.cache import DoctorCache
from connector.doctor.database import check_database
from connector.doctor.report import DoctorReport, Verdict
from connector.errors import ConfigError
from connector.settings import Settings

log = structlog.get_logger("connector.doctor")


def require_usable_database(settings: Settings) -> None:
    """``ConfigError`` with the doctor's line when the database is unreachable or not migrated."""
    found = check_database(settings)
    if found.verdict is Verdict.FAIL:
        raise ConfigError(f"{found.subject}: {found.message}")


def check_in_background(cache: DoctorCache) -> None:
    """Run the online checks without delaying the start; each failed one becomes a warning."""
    cache.start(then=log_report)


def log_report(report: DoctorReport) -> None:
    for check in report.failures():
        log.warning("doctor.check.failed", subject=check.subject, detail=check.message)
    log.info("doctor.checked", checks=len(report.checks), failed=len(report.failures()))
