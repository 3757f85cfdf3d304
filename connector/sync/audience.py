"""Make sure an audience exists in Mailchimp the way consent-sync needs it, and remember its ids.

Idempotent: looks things up before creating them (the gateway may retry a create after a timeout).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from connector.core.desired import AudienceMapping
from connector.core.model import Basis
from connector.errors import ConfigError
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import ListContact, SegmentCondition, SegmentType
from connector.services.context import AppContext
from connector.services.preference_links import PREFS_FIELD, PREFS_MARK, synced_merge_fields
from connector.services.preference_links import enabled as links_enabled
from connector.settings import AudienceSettings
from connector.store.engine import unit_of_work
from connector.store.sync_tables import AudienceStateRow
from connector.sync.binding import data_centre, require_bound
from connector.sync.connect import is_local

SAVED_PREFIX = "saved:"
TRANSACTIONAL_SEGMENT = "Transactional notices"


@dataclass(frozen=True, slots=True)
class AudienceTarget:
    """Where one audience lives in Mailchimp: its list id and the segment id of every owned tag."""

    name: str
    list_id: str
    segment_ids: Mapping[str, int]


def owned_tags(mapping: AudienceMapping) -> list[str]:
    tags = [mapping.purpose_tag(p) for p in mapping.purposes]
    tags += [mapping.basis_tag(Basis.CONSENT), mapping.basis_tag(Basis.EXISTING_CUSTOMER)]
    return [*tags, mapping.transactional_tag]


def saved_segments(mapping: AudienceMapping) -> dict[str, str]:
    """Saved segment name → the tag it selects."""
    named = {f"Marketing: {p}": mapping.purpose_tag(p) for p in mapping.purposes}
    return {**named, TRANSACTIONAL_SEGMENT: mapping.transactional_tag}


def ensure_audience(
    ctx: AppContext, gateway: MailchimpGateway, audience: AudienceSettings, mapping: AudienceMapping
) -> AudienceTarget:
    """The audience's target, creating the list (sandbox only), merge fields, tags and segments.

    Binds the audience to its list (and the account's data centre) on first use; ``ListMovedError`` if
    the configured list is not the one it is bound to.
    """
    require_bound(ctx, audience)
    state = _state(ctx, audience.name)
    list_id = audience.list_id or state.list_id or _create_list(ctx, gateway, audience)
    ids = dict(state.segment_ids) if state.list_id == list_id else {}
    wanted = owned_tags(mapping) + [SAVED_PREFIX + n for n in saved_segments(mapping)]
    dc = data_centre(ctx.settings.mailchimp)
    links = links_enabled(ctx.settings)
    if any(key not in ids for key in wanted) or (links and PREFS_MARK not in ids):
        _ensure_merge_fields(gateway, list_id, synced_merge_fields(ctx.settings, audience))
        ids = _ensure_segments(gateway, list_id, mapping)
        if links:
            ids[PREFS_MARK] = 0
        _remember(ctx, audience.name, list_id, dc, ids)
    elif state.list_id != list_id or state.dc != dc:
        _remember(ctx, audience.name, list_id, dc, ids)
    return AudienceTarget(audience.name, list_id, ids)


def _state(ctx: AppContext, name: str) -> AudienceStateRow:
    with unit_of_work(ctx.engine) as session:
        found = session.get(AudienceStateRow, name)
        if found is None:
            found = AudienceStateRow(audience=name)
            session.add(found)
        return found


def _remember(ctx: AppContext, name: str, list_id: str, dc: str | None, ids: dict[str, int]) -> None:
    with unit_of_work(ctx.engine) as session:
        row = session.get(AudienceStateRow, name) or AudienceStateRow(audience=name)
        row.list_id, row.dc = list_id, dc
        row.segment_ids = ids
        session.add(row)


def _create_list(ctx: AppContext, gateway: MailchimpGateway, audience: AudienceSettings) -> str:
    if not is_local(ctx.settings.mailchimp):
        raise ConfigError(f"audiences.{audience.name}.list_id: not set; copy the audience id from Mailchimp")
    info = gateway.create_list(
        f"consent-sync {audience.name}",
        contact=ListContact("consent-sync demo", "Storgata 1", "Oslo", "0155", "NO"),
        from_name="consent-sync",
        from_email="news@example.no",
        permission_reminder="You signed up or are a customer of ours.",
    )
    return info.id


def _ensure_merge_fields(gateway: MailchimpGateway, list_id: str, fields: dict[str, str]) -> None:
    existing = {f.tag for f in gateway.merge_fields(list_id)}
    for tag, field in fields.items():
        if tag not in existing:
            name = "Privacy page" if field == PREFS_FIELD else field.replace("_", " ").title()
            gateway.create_merge_field(list_id, tag, name)


def _ensure_segments(gateway: MailchimpGateway, list_id: str, mapping: AudienceMapping) -> dict[str, int]:
    static = {s.name: s.id for s in gateway.segments(list_id, SegmentType.STATIC)}
    ids: dict[str, int] = {}
    for tag in owned_tags(mapping):
        ids[tag] = static[tag] if tag in static else gateway.create_static_segment(list_id, tag).id
    saved = {s.name: s.id for s in gateway.segments(list_id, SegmentType.SAVED)}
    for name, tag in saved_segments(mapping).items():
        if name not in saved:
            condition = SegmentCondition("StaticSegment", "static_segment", "static_is", ids[tag])
            saved[name] = gateway.create_saved_segment(list_id, name, [condition]).id
        ids[SAVED_PREFIX + name] = saved[name]
    return ids
