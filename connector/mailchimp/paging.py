"""Offset paging over Mailchimp collections (``count`` ≤ 1000, ``total_items`` in every answer).

Offset paging is not a snapshot: a member changed while we page may move and be read twice or, rarely,
push another one past a page boundary. Reconciliation therefore runs again (``since_last_changed``)
rather than trusting one pass.
"""

from collections.abc import Iterator, Mapping

from connector.mailchimp.codec import JsonObject, items, total_items
from connector.mailchimp.transport import Endpoint, QueryValue, Transport

MAX_PAGE_SIZE = 1000


def pages(
    transport: Transport,
    endpoint: Endpoint,
    path_params: Mapping[str, object],
    key: str,
    params: Mapping[str, QueryValue] | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[JsonObject]:
    """Every object under ``key``, fetched ``page_size`` at a time, lazily."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    offset = 0
    while True:
        query = {**(params or {}), "count": page_size, "offset": offset}
        data = transport.call(endpoint, path_params, params=query).data
        page = items(data, key)
        yield from page
        offset += len(page)
        total = total_items(data)
        if len(page) < page_size or (total is not None and offset >= total):
            return
