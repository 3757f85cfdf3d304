"""The Mailchimp Transactional checks of ``doctor``: the key answers ``users/ping``, a sender is set,
and the sending domain is verified for signing (SPF/DKIM), without which Transactional rejects every
message as ``unsigned``.
"""

from collections.abc import Iterator
from typing import Any, cast

from connector.doctor.report import Check, fail, ok, skip
from connector.errors import FatalMailchimpError, MailchimpError
from connector.mailchimp.transactional import TransactionalGateway
from connector.settings import Settings

SUBJECT = "transactional"


def check_transactional(settings: Settings, max_attempts: int) -> Iterator[Check]:
    transactional = settings.transactional
    routed = [a.name for a in settings.audiences if a.notice_route == "transactional"]
    if transactional.api_key is None:
        where = f" (audiences routing notices by it: {', '.join(routed)})" if routed else ""
        yield skip(SUBJECT, f"not configured{where}; set CONSENT_SYNC_TRANSACTIONAL__API_KEY to send notices")
        return
    if not transactional.from_email:
        yield fail("transactional.from_email", "not set: notices need a sender address")
    with TransactionalGateway(
        transactional.api_key.get_secret_value(),
        transactional.base_url,
        timeout_seconds=settings.mailchimp.timeout_seconds,
        max_attempts=max_attempts,
        backoff_initial_seconds=settings.mailchimp.backoff_initial_seconds,
        backoff_max_seconds=settings.mailchimp.backoff_max_seconds,
        max_connections=transactional.max_connections,
    ) as gateway:
        yield from _online(gateway, settings)


def _online(gateway: TransactionalGateway, settings: Settings) -> Iterator[Check]:
    try:
        gateway.ping()
    except FatalMailchimpError as exc:
        yield fail("transactional.api_key", f"Mailchimp Transactional refused the key ({exc}); check it")
        return
    except MailchimpError as exc:
        yield fail(SUBJECT, f"Mailchimp Transactional cannot be reached ({exc}); try again later")
        return
    yield ok("transactional.api_key", "Mailchimp Transactional accepts the key")
    domain = settings.transactional.sending_domain or _domain_of(settings.transactional.from_email)
    if domain is None:
        return
    try:
        domains = gateway.sending_domains()
    except MailchimpError as exc:
        yield fail("transactional.sending_domain", f"cannot list sending domains ({exc})")
        return
    yield _domain_check(domain, domains)


def _domain_check(domain: str, domains: list[dict[str, object]]) -> Check:
    subject = "transactional.sending_domain"
    found = next((d for d in domains if str(d.get("domain", "")).lower() == domain.lower()), None)
    if found is None:
        return fail(
            subject, f"{domain} is not a sending domain of this Transactional account; add and verify it"
        )
    if not found.get("valid_signing"):
        missing = [name.upper() for name in ("spf", "dkim") if not _valid(found.get(name))]
        what = " and ".join(missing) or "signing"
        return fail(subject, f"{domain}: {what} not valid, Transactional rejects mail from it (unsigned)")
    return ok(subject, f"{domain} is verified for signing (SPF and DKIM)")


def _domain_of(address: str | None) -> str | None:
    return address.rpartition("@")[2] or None if address and "@" in address else None


def _valid(check: object) -> bool:
    return isinstance(check, dict) and bool(cast(dict[str, Any], check).get("valid"))
