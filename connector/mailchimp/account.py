"""The account behind the API key: ``GET /`` (the API root), and the data centre it lives in."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.mailchimp import codec
from connector.mailchimp.transport import Endpoint, Transport

ROOT = Endpoint("GET", "/")
_API_HOST = re.compile(r"^(?P<dc>[a-z]{2,}[0-9]+)\.api\.mailchimp\.com$")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Who the key belongs to; ``data_centre`` read from the answer's links (``None`` if they name none)."""

    account_id: str
    account_name: str
    data_centre: str | None


class AccountCalls:
    _transport: Transport

    def account(self) -> AccountInfo:
        """The account of the API key; a wrong key or data centre raises ``FatalMailchimpError`` (401)."""
        return account_info(self._transport.call(ROOT).data)


def account_info(data: object) -> AccountInfo:
    fields = codec.obj(data, "API root")
    return AccountInfo(
        account_id=str(fields.get("account_id") or ""),
        account_name=str(fields.get("account_name") or ""),
        data_centre=_data_centre(fields.get("_links")),
    )


def data_centre_of(url: str) -> str | None:
    """``us6`` for ``https://us6.api.mailchimp.com/3.0``; ``None`` for any other host (a sandbox, a proxy)."""
    found = _API_HOST.match(urlsplit(url).hostname or "")
    return found["dc"] if found else None


def _data_centre(links: object) -> str | None:
    if not isinstance(links, list):
        return None
    for link in links:
        href = link.get("href") if isinstance(link, Mapping) else None
        if isinstance(href, str) and (found := data_centre_of(href)) is not None:
            return found
    return None
