"""Which Mailchimp list an audience is bound to, and the refusal to work on a list it was not bound to.

The store binds an audience to a list (and the account's data centre) the first time it syncs it. A
configured ``list_id`` that differs from the bound one is a move: until someone acknowledges it with
``consent-sync audience move``, nothing syncs or reconciles the audience, because the new list's mirror
is empty and its members' absence proves nothing about the people in the store.
"""

from collections.abc import Container
from dataclasses import replace
from urllib.parse import urlparse

from sqlmodel import Session

from connector.core.desired import DesiredMember
from connector.errors import ConfigError, ListMovedError
from connector.services.context import AppContext
from connector.settings import AudienceSettings, MailchimpSettings
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow
from connector.sync.connect import gateway_settings


def data_centre(settings: MailchimpSettings) -> str | None:
    """The account's data centre: the API key's suffix (``…-us6``, the sandbox's ``us1``), else the host."""
    try:
        settings = gateway_settings(settings)
    except ConfigError:
        return None
    key = settings.api_key.get_secret_value().strip() if settings.api_key is not None else ""
    if "-" in key:
        return key.rpartition("-")[2]
    if settings.base_url:
        return urlparse(settings.base_url).netloc or None
    return None


def bound_list_id(session: Session, audience: str) -> str | None:
    """The list the store last synced for ``audience`` (``None`` before its first sync)."""
    state = session.get(AudienceStateRow, audience)
    return state.list_id if state is not None else None


def move_problem(ctx: AppContext, audience: AudienceSettings) -> str | None:
    """One line saying the configured list differs from the bound one, or ``None`` when they agree."""
    with unit_of_work(ctx.engine) as session:
        state = session.get(AudienceStateRow, audience.name)
        bound, dc = (state.list_id, state.dc) if state is not None else (None, None)
    return describe_move(audience, bound, dc, data_centre(ctx.settings.mailchimp))


def describe_move(
    audience: AudienceSettings, bound: str | None, bound_dc: str | None, dc: str | None
) -> str | None:
    configured = audience.list_id
    if bound is None or not configured:
        return None
    if configured == bound and (bound_dc is None or dc is None or bound_dc == dc):
        return None
    where = f"{configured}" if configured != bound else f"{configured} in data centre {dc}"
    was = f"{bound}" if configured != bound else f"{bound} in data centre {bound_dc}"
    return (
        f"audience {audience.name}: audiences.{audience.name}.list_id is {where} but the store last synced "
        f"list {was}; not syncing or reconciling it until you run "
        f"`consent-sync audience move {audience.name} --to {configured}`"
    )


def require_bound(ctx: AppContext, audience: AudienceSettings) -> None:
    """Refuse (``ListMovedError``) to work on an audience whose configured list moved unacknowledged."""
    problem = move_problem(ctx, audience)
    if problem is not None:
        raise ListMovedError(problem)


def kept_out_after_move(
    member: DesiredMember, opted_out_before: Container[str], mirror: Container[str]
) -> DesiredMember:
    """``member``, not added to a new list if they opted out of (or left) a list the audience had before."""
    key = member.subscriber_hash
    if member.present and key in opted_out_before and key not in mirror:
        return replace(member, present=False, status=None, tags=frozenset(), marketing_purposes=frozenset())
    return member
