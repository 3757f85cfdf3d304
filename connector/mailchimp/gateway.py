"""``MailchimpGateway``: the only object in consent-sync that talks to Mailchimp.

Build one per process in the composition root and share it (it is thread-safe), or share one
:class:`ConnectionCap` between several gateways. See ``connector/mailchimp/README.md``.
"""

import re
from types import TracebackType

import requests

from connector.errors import ConfigError
from connector.mailchimp.account import AccountCalls
from connector.mailchimp.audiences import AudienceCalls
from connector.mailchimp.batches import BatchCalls
from connector.mailchimp.campaigns import CampaignCalls
from connector.mailchimp.connections import ConnectionCap, shared_cap
from connector.mailchimp.journeys import JourneyCalls
from connector.mailchimp.members import MemberCalls
from connector.mailchimp.stats import GatewayStats, process_totals
from connector.mailchimp.transport import RetryPolicy, Transport
from connector.settings import MailchimpSettings

_DATA_CENTRE = re.compile(r"^[a-z]{2,}[0-9]+$")


class MailchimpGateway(AccountCalls, AudienceCalls, MemberCalls, BatchCalls, JourneyCalls, CampaignCalls):
    """Typed Mailchimp Marketing API calls with pooling, a connection cap, retries and counters."""

    def __init__(
        self,
        settings: MailchimpSettings,
        *,
        cap: ConnectionCap | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """``cap``: share one across the process (default: the cap registered for this API key).

        ``session``: for tests only; by default the gateway owns a pooled session sized to the cap.
        """
        api_key = _api_key(settings)
        self.base_url = api_base_url(settings)
        self.cap = cap if cap is not None else shared_cap(api_key, settings.max_connections)
        self.stats = GatewayStats(totals=process_totals())
        self._transport = Transport(
            base_url=self.base_url,
            api_key=api_key,
            timeout_seconds=settings.timeout_seconds,
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                initial_seconds=settings.backoff_initial_seconds,
                max_seconds=settings.backoff_max_seconds,
            ),
            cap=self.cap,
            stats=self.stats,
            session=session,
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "MailchimpGateway":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def api_base_url(settings: MailchimpSettings) -> str:
    """``mailchimp.base_url`` if set, else ``https://<dc>.api.mailchimp.com/3.0`` from the key's suffix."""
    api_key = _api_key(settings)
    if settings.base_url:
        return settings.base_url.rstrip("/")
    data_centre = api_key.rpartition("-")[2] if "-" in api_key else ""
    if not _DATA_CENTRE.match(data_centre):
        raise ConfigError(
            "mailchimp.api_key: does not end in a data-centre suffix such as '-us6'; "
            "check the key or set mailchimp.base_url"
        )
    return f"https://{data_centre}.api.mailchimp.com/3.0"


def _api_key(settings: MailchimpSettings) -> str:
    if settings.api_key is None or not settings.api_key.get_secret_value().strip():
        raise ConfigError("mailchimp.api_key: not set; set CONSENT_SYNC_MAILCHIMP__API_KEY")
    return settings.api_key.get_secret_value().strip()
