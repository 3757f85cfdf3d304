"""The gateway for a run, built from settings, with the sandbox's friendly default API key
(the rule itself lives in :mod:`connector.mailchimp.gateway_settings`, shared with notice sending)."""

from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.gateway_settings import SANDBOX_KEY, gateway_settings, is_local
from connector.settings import MailchimpSettings

__all__ = ["SANDBOX_KEY", "gateway_settings", "is_local", "open_gateway"]


def open_gateway(settings: MailchimpSettings) -> MailchimpGateway:
    return MailchimpGateway(gateway_settings(settings))
