"""Mailchimp settings for a gateway, with the sandbox's friendly default API key.

Lives in the gateway package so every layer that builds a gateway (sync runs, notice sending, doctor)
gets the same rule: the configured key, or ``sandbox-us1`` when ``base_url`` is a local sandbox.
"""

from urllib.parse import urlparse

from pydantic import SecretStr

from connector.errors import ConfigError
from connector.settings import MailchimpSettings

SANDBOX_KEY = "sandbox-us1"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def gateway_settings(settings: MailchimpSettings) -> MailchimpSettings:
    """``settings`` with an API key: the configured one, or ``sandbox-us1`` for a local sandbox."""
    if settings.api_key is not None and settings.api_key.get_secret_value().strip():
        return settings
    if settings.base_url is None:
        raise ConfigError(
            "mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY or run `consent-sync demo`"
        )
    if urlparse(settings.base_url).hostname not in LOCAL_HOSTS:
        raise ConfigError(
            "mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY "
            "(any key such as 'anything-us1' works against a sandbox)"
        )
    return settings.model_copy(update={"api_key": SecretStr(SANDBOX_KEY)})


def is_local(settings: MailchimpSettings) -> bool:
    """Whether the configured Mailchimp is a local sandbox (where audiences may be created)."""
    return settings.base_url is not None and urlparse(settings.base_url).hostname in LOCAL_HOSTS
