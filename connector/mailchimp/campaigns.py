"""Campaign reads for the campaign guard: ``GET /campaigns`` by audience and status (with
``recipients.segment_opts``) and one segment's ``member_count``."""

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from connector.mailchimp import codec
from connector.mailchimp.codec import JsonObject
from connector.mailchimp.paging import pages
from connector.mailchimp.payloads import Segment, SegmentCondition
from connector.mailchimp.transport import Endpoint, Transport

CAMPAIGNS = Endpoint("GET", "/campaigns")
SEGMENT = Endpoint("GET", "/lists/{list_id}/segments/{segment_id}")
FIELDS = (
    "campaigns.id,campaigns.status,campaigns.settings.title,campaigns.recipients.list_id,"
    "campaigns.recipients.recipient_count,campaigns.recipients.segment_opts,total_items"
)


@dataclass(frozen=True, slots=True)
class CampaignRecipients:
    id: str
    title: str
    status: str
    list_id: str
    recipient_count: int
    saved_segment_id: int | None
    prebuilt_segment_id: str | None
    match: str | None
    conditions: tuple[SegmentCondition, ...]


class CampaignCalls:
    _transport: Transport

    def campaigns(self, list_id: str, statuses: Collection[str]) -> Iterator[CampaignRecipients]:
        """The audience's campaigns in each of ``statuses`` (Mailchimp filters by one status a call)."""
        for status in statuses:
            params = {"list_id": list_id, "status": status, "fields": FIELDS}
            for found in pages(self._transport, CAMPAIGNS, {}, "campaigns", params):
                yield campaign(found)

    def segment(self, list_id: str, segment_id: int) -> Segment | None:
        """One segment with its ``member_count``; ``None`` when it does not exist (404)."""
        reply = self._transport.call(SEGMENT, {"list_id": list_id, "segment_id": segment_id}, accept={404})
        return None if reply.status == 404 else codec.segment(reply.data)


def campaign(data: object) -> CampaignRecipients:
    fields = codec.obj(data, "campaign")
    recipients = _sub(fields, "recipients")
    options = _sub(recipients, "segment_opts")
    saved = options.get("saved_segment_id")
    prebuilt = options.get("prebuilt_segment_id")
    count = recipients.get("recipient_count")
    match = options.get("match")
    raw_conditions = options.get("conditions")
    conditions: tuple[SegmentCondition, ...] = ()
    if isinstance(raw_conditions, list):
        conditions = codec.segment({"options": {"conditions": raw_conditions}}).conditions
    return CampaignRecipients(
        id=str(fields.get("id", "")),
        title=str(_sub(fields, "settings").get("title", "") or ""),
        status=str(fields.get("status", "")),
        list_id=str(recipients.get("list_id", "")),
        recipient_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        saved_segment_id=saved if isinstance(saved, int) and not isinstance(saved, bool) and saved else None,
        prebuilt_segment_id=prebuilt if isinstance(prebuilt, str) and prebuilt else None,
        match=match if isinstance(match, str) else None,
        conditions=conditions,
    )


def _sub(fields: JsonObject, key: str) -> JsonObject:
    value = fields.get(key)
    return codec.obj(value, key) if isinstance(value, dict) else {}
