"""The API key: set, in the data centre the base URL and the account say, and accepted by Mailchimp."""

from dataclasses import dataclass

from connector.doctor.report import Check, fail, ok
from connector.errors import ConfigError, FatalMailchimpError, MailchimpError
from connector.mailchimp.account import AccountInfo, data_centre_of
from connector.mailchimp.gateway import MailchimpGateway, api_base_url
from connector.settings import MailchimpSettings
from connector.sync.connect import gateway_settings

KEY = "mailchimp.api_key"
BASE_URL = "mailchimp.base_url"
WHERE_KEYS = "Mailchimp → Profile → Extras → API keys"


@dataclass(frozen=True, slots=True)
class KeyFindings:
    checks: tuple[Check, ...]
    account: AccountInfo | None
    """The key's account when Mailchimp accepted the key; ``None`` stops the audience checks."""


def usable_settings(settings: MailchimpSettings) -> MailchimpSettings | Check:
    """Settings a gateway can be built from (the sandbox's default key filled in), or why not."""
    try:
        found = gateway_settings(settings)
        api_base_url(found)
    except ConfigError as exc:
        return fail(KEY, str(exc).removeprefix(f"{KEY}: "))
    return found


def check_key(gateway: MailchimpGateway, settings: MailchimpSettings) -> KeyFindings:
    suffix = key_suffix(settings)
    configured = data_centre_of(gateway.base_url)
    if configured is not None and suffix != configured:
        return KeyFindings((_base_url_disagrees(suffix, configured),), None)
    try:
        gateway.ping()
        account = gateway.account()
    except FatalMailchimpError as exc:
        return KeyFindings((_refused(exc, suffix, gateway.base_url),), None)
    except MailchimpError as exc:
        return KeyFindings((fail(KEY, f"cannot reach Mailchimp at {gateway.base_url}: {exc}"),), None)
    return KeyFindings((_accepted(account, suffix),), account)


def key_suffix(settings: MailchimpSettings) -> str:
    key = settings.api_key.get_secret_value().strip() if settings.api_key is not None else ""
    return key.rpartition("-")[2] if "-" in key else ""


def _base_url_disagrees(suffix: str, configured: str) -> Check:
    return fail(
        BASE_URL,
        f"points at data centre {configured}, but the API key ends in '-{suffix}': "
        f"use https://{suffix}.api.mailchimp.com/3.0, or leave mailchimp.base_url unset",
    )


def _refused(exc: FatalMailchimpError, suffix: str, base_url: str) -> Check:
    if exc.status in (401, 403):
        return fail(
            KEY,
            f"Mailchimp at {base_url} refused the key ending in '-{suffix}' ({exc.status} {exc.title or ''}"
            f"): the key is wrong or revoked, or the account is not in data centre {suffix}; "
            f"copy the key again from {WHERE_KEYS} and set CONSENT_SYNC_MAILCHIMP__API_KEY",
        )
    return fail(KEY, f"Mailchimp at {base_url} answered {exc}")


def _accepted(account: AccountInfo, suffix: str) -> Check:
    if account.data_centre is not None and account.data_centre != suffix:
        return fail(
            KEY,
            f"accepted, but account '{account.account_name}' is in data centre {account.data_centre} while "
            f"the key ends in '-{suffix}': copy the key again from {WHERE_KEYS}",
        )
    where = f"data centre {account.data_centre}" if account.data_centre else "data centre not named"
    return ok(KEY, f"valid for account '{account.account_name}' ({account.account_id}, {where})")
