"""The gateway for a run, built from settings, with the sandbox's friendly default API key."""

from urllib.parse import urlparse

from pydantic import SecretStr

from connector.errors import ConfigError
from connector.mailchimp.gateway import MailchimpGateway
from connector.settings import MailchimpSettings

SANDBOX_KEY = "sandbox-us1"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def gateway_settings(settings: MailchimpSettings) -> MailchimpSettings:
    """``settings`` with an API key: the configured one, or ``sandbox-us1`` for a local sandbox."""
    if settings.api_key is not None and settings.api_key.get_secret_value().strip():
        return settings
    if settings.base_url is None:
        raise ConfigError(
            "mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY or run `consent-sync demo`"
        )
    if urlparse(settings.base_url).hostname not in _LOCAL_HOSTS:
        raise ConfigError(
            "mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY "
            "(any key such as 'anything-us1' works against a sandbox)"
        )
    return settings.model_copy(update={"api_key": SecretStr(SANDBOX_KEY)})


def open_gateway(settings: MailchimpSettings) -> MailchimpGateway:
    return MailchimpGateway(gateway_settings(settings))


def is_local(settings: MailchimpSettings) -> bool:
    """Whether the configured Mailchimp is a local sandbox (where audiences may be created)."""
    return settings.base_url is not None and urlparse(settings.base_url).hostname in _LOCAL_HOSTS
