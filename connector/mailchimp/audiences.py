"""Audience-level calls: the audience itself, merge fields, segments (tags and saved) and webhooks."""

from collections.abc import Collection, Iterator, Sequence

from connector.mailchimp import codec
from connector.mailchimp.paging import pages
from connector.mailchimp.payloads import (
    AudienceInfo,
    ListContact,
    MemberRecord,
    MergeField,
    Segment,
    SegmentCondition,
    SegmentType,
    Webhook,
    WebhookEvent,
    WebhookSource,
)
from connector.mailchimp.transport import Endpoint, Transport

PING = Endpoint("GET", "/ping")
LISTS = Endpoint("POST", "/lists")
LIST = Endpoint("GET", "/lists/{list_id}")
MERGE_FIELDS = Endpoint("GET", "/lists/{list_id}/merge-fields")
CREATE_MERGE_FIELD = Endpoint("POST", "/lists/{list_id}/merge-fields")
SEGMENTS = Endpoint("GET", "/lists/{list_id}/segments")
CREATE_SEGMENT = Endpoint("POST", "/lists/{list_id}/segments")
UPDATE_SEGMENT = Endpoint("PATCH", "/lists/{list_id}/segments/{segment_id}")
SEGMENT_MEMBERS = Endpoint("GET", "/lists/{list_id}/segments/{segment_id}/members")
WEBHOOKS = Endpoint("GET", "/lists/{list_id}/webhooks")
CREATE_WEBHOOK = Endpoint("POST", "/lists/{list_id}/webhooks")
DELETE_WEBHOOK = Endpoint("DELETE", "/lists/{list_id}/webhooks/{webhook_id}")


class AudienceCalls:
    _transport: Transport

    def ping(self) -> str:
        """Mailchimp's health status text (``Everything's Chimpy!``); raises if unreachable."""
        return str(codec.obj(self._transport.call(PING).data).get("health_status", ""))

    def get_list(self, list_id: str) -> AudienceInfo:
        return codec.audience(self._transport.call(LIST, {"list_id": list_id}).data)

    def find_list(self, list_id: str) -> AudienceInfo | None:
        """The audience, or ``None`` when the account has no audience with this id (404)."""
        reply = self._transport.call(LIST, {"list_id": list_id}, accept={404})
        return None if reply.status == 404 else codec.audience(reply.data)

    def create_list(
        self,
        name: str,
        *,
        contact: ListContact,
        from_name: str,
        from_email: str,
        permission_reminder: str,
        language: str = "en",
        double_optin: bool = False,
    ) -> AudienceInfo:
        """Create an audience (sandbox and demo; production audiences are configured by id)."""
        body = {
            "name": name,
            "contact": {
                "company": contact.company,
                "address1": contact.address1,
                "city": contact.city,
                "state": contact.state,
                "zip": contact.zip,
                "country": contact.country,
            },
            "permission_reminder": permission_reminder,
            "campaign_defaults": {
                "from_name": from_name,
                "from_email": from_email,
                "subject": "",
                "language": language,
            },
            "email_type_option": False,
            "double_optin": double_optin,
        }
        return codec.audience(self._transport.call(LISTS, body=body).data)

    def merge_fields(self, list_id: str) -> tuple[MergeField, ...]:
        return tuple(
            codec.merge_field(f)
            for f in pages(self._transport, MERGE_FIELDS, {"list_id": list_id}, "merge_fields")
        )

    def create_merge_field(
        self, list_id: str, tag: str, name: str, type: str = "text", *, required: bool = False
    ) -> MergeField:
        body = {"tag": tag, "name": name, "type": type, "required": required}
        return codec.merge_field(
            self._transport.call(CREATE_MERGE_FIELD, {"list_id": list_id}, body=body).data
        )

    def segments(self, list_id: str, type: SegmentType | None = None) -> tuple[Segment, ...]:
        """Segments of one type (``static`` = tags, ``saved``), or all of them."""
        params = {"type": type.value if type is not None else None}
        found = pages(self._transport, SEGMENTS, {"list_id": list_id}, "segments", params)
        return tuple(codec.segment(s) for s in found)

    def create_static_segment(self, list_id: str, name: str, emails: Sequence[str] = ()) -> Segment:
        """Create a tag (a static segment), optionally with members already on the audience."""
        body = {"name": name, "static_segment": codec.addresses(emails)}
        return codec.segment(self._transport.call(CREATE_SEGMENT, {"list_id": list_id}, body=body).data)

    def create_saved_segment(
        self, list_id: str, name: str, conditions: Sequence[SegmentCondition], match: str = "all"
    ) -> Segment:
        """Create a saved segment (≤ 10 conditions), e.g. "has tag cs:offers" = ``StaticSegment``."""
        body = {"name": name, "options": _options(conditions, match)}
        return codec.segment(self._transport.call(CREATE_SEGMENT, {"list_id": list_id}, body=body).data)

    def update_saved_segment(
        self,
        list_id: str,
        segment_id: int,
        name: str,
        conditions: Sequence[SegmentCondition],
        match: str = "all",
    ) -> Segment:
        body = {"name": name, "options": _options(conditions, match)}
        path = {"list_id": list_id, "segment_id": segment_id}
        return codec.segment(self._transport.call(UPDATE_SEGMENT, path, body=body).data)

    def segment_members(
        self, list_id: str, segment_id: int, *, page_size: int = 1000, include_non_subscribed: bool = True
    ) -> Iterator[MemberRecord]:
        """Members of a segment or tag; by default also unsubscribed, cleaned and transactional ones."""
        include = include_non_subscribed
        params = {
            "include_cleaned": include,
            "include_transactional": include,
            "include_unsubscribed": include,
        }
        path = {"list_id": list_id, "segment_id": segment_id}
        for found in pages(self._transport, SEGMENT_MEMBERS, path, "members", params, page_size):
            yield codec.member(found)

    def create_webhook(
        self,
        list_id: str,
        url: str,
        events: Collection[WebhookEvent],
        sources: Collection[WebhookSource] = (WebhookSource.USER, WebhookSource.ADMIN),
    ) -> Webhook:
        """Register a webhook; every event and source flag is sent explicitly (``api`` off by default)."""
        body = {
            "url": url,
            "events": codec.flags(events, WebhookEvent),
            "sources": codec.flags(sources, WebhookSource),
        }
        return codec.webhook(self._transport.call(CREATE_WEBHOOK, {"list_id": list_id}, body=body).data)

    def list_webhooks(self, list_id: str) -> tuple[Webhook, ...]:
        data = self._transport.call(WEBHOOKS, {"list_id": list_id}).data
        return tuple(codec.webhook(w) for w in codec.items(data, "webhooks"))

    def delete_webhook(self, list_id: str, webhook_id: str) -> bool:
        """``False`` when no such webhook exists (already deleted)."""
        path = {"list_id": list_id, "webhook_id": webhook_id}
        return self._transport.call(DELETE_WEBHOOK, path, accept={404}).status != 404


def _options(conditions: Sequence[SegmentCondition], match: str) -> dict[str, object]:
    if not 1 <= len(conditions) <= 10:
        raise ValueError(f"a saved segment takes 1..10 conditions, got {len(conditions)}")
    return {"match": match, "conditions": [codec.condition_body(c) for c in conditions]}
