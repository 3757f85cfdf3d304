"""``consent-sync doctor``: check the configuration online and say what to fix, one line each.

A service (no CLI code): :func:`diagnose` builds its own short-lived gateway with few retries, so a wrong
key, data centre or list id is found even when there is nothing to send. The daemon runs it at start,
and ``serve`` keeps its last report for ``/readyz`` (:mod:`connector.doctor.cache`).
"""

from collections.abc import Iterator

from connector.doctor.api_key import check_key, usable_settings
from connector.doctor.audiences import check_audiences
from connector.doctor.database import check_database
from connector.doctor.report import Check, DoctorReport, Verdict
from connector.doctor.transactional import check_transactional
from connector.mailchimp.gateway import MailchimpGateway
from connector.settings import MailchimpSettings, Settings

DOCTOR_MAX_ATTEMPTS = 2
"""Attempts per call: enough to ride out one throttled answer, few enough to answer promptly when down."""

__all__ = ["Check", "DoctorReport", "Verdict", "diagnose", "diagnose_mailchimp"]


def diagnose(settings: Settings) -> DoctorReport:
    """Every check: the database, Mailchimp (key, audiences), and Transactional."""
    return DoctorReport((check_database(settings), *_mailchimp_checks(settings), *_transactional(settings)))


def diagnose_mailchimp(settings: Settings) -> DoctorReport:
    """The online checks only (the daemon checks its database before starting these)."""
    return DoctorReport((*_mailchimp_checks(settings), *_transactional(settings)))


def _mailchimp_checks(settings: Settings) -> Iterator[Check]:
    usable = usable_settings(settings.mailchimp)
    if isinstance(usable, Check):
        yield usable
        return
    with MailchimpGateway(_few_attempts(usable)) as gateway:
        found = check_key(gateway, usable)
        yield from found.checks
        if found.account is not None:
            yield from check_audiences(gateway, settings, found.account.account_name)


def _few_attempts(settings: MailchimpSettings) -> MailchimpSettings:
    attempts = min(settings.max_attempts, DOCTOR_MAX_ATTEMPTS)
    return settings.model_copy(update={"max_attempts": attempts})


def _transactional(settings: Settings) -> Iterator[Check]:
    """Mailchimp Transactional: the key, the sender and the sending domain (skipped when not configured)."""
    return check_transactional(settings, DOCTOR_MAX_ATTEMPTS)
