"""Mailchimp's response shapes for audiences, members, merge fields, segments, webhooks and batches."""

import json
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from connector.core.remote import MemberStatus, RemoteMember
from connector.sandbox.assumptions import SEGMENT_MEMBERS_DEFAULT_STATUSES
from connector.sandbox.segments import segment_members
from connector.sandbox.shaping import links, timestamp
from connector.sandbox.state import (
    Audience,
    BatchRecord,
    MemberExtras,
    MergeFieldRecord,
    SegmentRecord,
    WebhookRecord,
)

MAX_MEMBER_TAGS = 50


def member(audience: Audience, value: RemoteMember, extras: MemberExtras) -> dict[str, Any]:
    return MemberDocuments(audience).member(value, extras)


class MemberDocuments:
    """Renders members of one audience as Mailchimp does; what all of them share (the blank merge
    fields, each tag's reference, formatted timestamps) is worked out once per renderer, so a
    500-member answer pays for it once. A renderer lives for one answer: the audience does not change
    while it is used (the state lock is held)."""

    def __init__(self, audience: Audience) -> None:
        self._audience = audience
        self._blank_merges = dict.fromkeys((f.tag for f in audience.merge_fields.values()), "")
        self._tag_refs: dict[str, dict[str, Any]] = {}
        self._timestamps: dict[datetime | None, str] = {None: ""}
        self._tags: dict[frozenset[str], tuple[int, str]] = {}
        self._list_id = _string(audience.id)

    def member(self, value: RemoteMember, extras: MemberExtras) -> dict[str, Any]:
        merges = self._blank_merges.copy()
        merges.update(value.merge_fields)
        tags = sorted(value.tags)
        stamp = self._timestamp
        document: dict[str, Any] = {
            "id": value.subscriber_hash,
            "email_address": value.email,
            "unique_email_id": extras.unique_email_id,
            "contact_id": extras.contact_id,
            "full_name": " ".join(filter(None, (merges.get("FNAME", ""), merges.get("LNAME", "")))),
            "web_id": extras.web_id,
            "email_type": value.email_type,
            "status": value.status.value,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": merges,
            "interests": dict(value.interests),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": value.ip_signup,
            "timestamp_signup": stamp(value.timestamp_signup),
            "ip_opt": value.ip_opt,
            "timestamp_opt": stamp(value.timestamp_opt),
            "member_rating": 2,
            "last_changed": stamp(value.last_changed),
            "language": "",
            "vip": False,
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
            },
            "source": "API - Generic",
            "tags_count": len(tags),
            "tags": [self._tag_ref(name) for name in tags[:MAX_MEMBER_TAGS]],
            "list_id": self._audience.id,
            "_links": links(),
        }
        if value.unsubscribe_reason and value.status is MemberStatus.UNSUBSCRIBED:
            document["unsubscribe_reason"] = value.unsubscribe_reason
        return document

    def member_json(self, value: RemoteMember, extras: MemberExtras) -> str:
        """``json.dumps(self.member(value, extras))``, byte for byte, without building the document: a
        500-member answer spends most of its time rendering and encoding members, and all but a dozen
        of each member's values are the same for every member (the ``render`` tests hold the two equal).
        """
        merges = self._blank_merges.copy()
        merges.update(value.merge_fields)
        full_name = " ".join(filter(None, (merges.get("FNAME", ""), merges.get("LNAME", ""))))
        stamp = self._timestamp
        tags_count, tags = self._tags_json(value.tags)
        reason = ""
        if value.unsubscribe_reason and value.status is MemberStatus.UNSUBSCRIBED:
            reason = f", {_UNSUBSCRIBE_REASON_KEY}{_string(value.unsubscribe_reason)}"
        return (
            f'{{"id": {_string(value.subscriber_hash)}, "email_address": {_string(value.email)}, '
            f'"unique_email_id": {_string(extras.unique_email_id)}, '
            f'"contact_id": {_string(extras.contact_id)}, "full_name": {_string(full_name)}, '
            f'"web_id": {int(extras.web_id)}, "email_type": {_string(value.email_type)}, '
            f'"status": {_string(value.status.value)}, "consents_to_one_to_one_messaging": true, '
            f'"merge_fields": {_string_map(merges)}, "interests": {_interests_json(value.interests)}, '
            f'"stats": {{"avg_open_rate": 0, "avg_click_rate": 0}}, '
            f'"ip_signup": {_string(value.ip_signup)}, '
            f'"timestamp_signup": "{stamp(value.timestamp_signup)}", "ip_opt": {_string(value.ip_opt)}, '
            f'"timestamp_opt": "{stamp(value.timestamp_opt)}", "member_rating": 2, '
            f'"last_changed": "{stamp(value.last_changed)}", {_CONSTANT_MIDDLE}'
            f'"tags_count": {tags_count}, "tags": {tags}, "list_id": {self._list_id}, '
            f'"_links": []{reason}}}'
        )

    def _tags_json(self, tags: frozenset[str]) -> tuple[int, str]:
        found = self._tags.get(tags)
        if found is None:
            names = sorted(tags)
            refs = [self._tag_ref(name) for name in names[:MAX_MEMBER_TAGS]]
            found = self._tags[tags] = (len(names), json.dumps(refs))
        return found

    def _timestamp(self, moment: datetime | None) -> str:
        found = self._timestamps.get(moment)
        if found is None:
            found = self._timestamps[moment] = timestamp(moment)
        return found

    def _tag_ref(self, name: str) -> dict[str, Any]:
        """``{"id", "name"}`` of a tag; a fresh dict each time, so that no two documents share one."""
        found = self._tag_refs.get(name)
        if found is None:
            segment = self._audience.tag_segment(name)
            found = self._tag_refs[name] = {"id": segment.id if segment else 0, "name": name}
        return found.copy()


_string = encode_basestring_ascii
"""A string as ``json.dumps`` writes it (ASCII, escaped)."""
_UNSUBSCRIBE_REASON_KEY = '"unsubscribe_reason": '
_CONSTANT_MIDDLE = (
    '"language": "", "vip": false, "email_client": "", "location": {"latitude": 0, "longitude": 0, '
    '"gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": ""}, "source": "API - Generic", '
)


def _string_map(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_string(k)}: {_string(v)}" for k, v in values.items()) + "}"


def _interests_json(interests: tuple[tuple[str, bool], ...]) -> str:
    return json.dumps(dict(interests)) if interests else "{}"


def audience_document(audience: Audience) -> dict[str, Any]:
    counts = {status: 0 for status in MemberStatus}
    for value in audience.present_members():
        counts[value.status] += 1
    settings = audience.settings
    return {
        "id": audience.id,
        "web_id": audience.web_id,
        "name": audience.name,
        "contact": settings.get("contact", {}),
        "permission_reminder": settings.get("permission_reminder", ""),
        "use_archive_bar": bool(settings.get("use_archive_bar", False)),
        "campaign_defaults": settings.get("campaign_defaults", {}),
        "notify_on_subscribe": settings.get("notify_on_subscribe", ""),
        "notify_on_unsubscribe": settings.get("notify_on_unsubscribe", ""),
        "date_created": timestamp(audience.date_created),
        "list_rating": 0,
        "email_type_option": bool(settings.get("email_type_option", False)),
        "subscribe_url_short": f"http://eepurl.com/sandbox{audience.web_id}",
        "subscribe_url_long": f"http://sandbox.list-manage.com/subscribe?id={audience.id}",
        "beamer_address": f"us1-{audience.id}@inbound.mailchimp.com",
        "visibility": settings.get("visibility", "prv"),
        "double_optin": bool(settings.get("double_optin", False)),
        "has_welcome": False,
        "marketing_permissions": bool(settings.get("marketing_permissions", False)),
        "modules": [],
        "stats": _audience_stats(counts),
        "_links": links(),
    }


def _audience_stats(counts: dict[MemberStatus, int]) -> dict[str, Any]:
    return {
        "member_count": counts[MemberStatus.SUBSCRIBED],
        "total_contacts": sum(counts[s] for s in MemberStatus if s is not MemberStatus.ARCHIVED),
        "unsubscribe_count": counts[MemberStatus.UNSUBSCRIBED],
        "cleaned_count": counts[MemberStatus.CLEANED],
        "member_count_since_send": counts[MemberStatus.SUBSCRIBED],
        "unsubscribe_count_since_send": counts[MemberStatus.UNSUBSCRIBED],
        "cleaned_count_since_send": counts[MemberStatus.CLEANED],
        "campaign_count": 0,
        "merge_field_count": 0,
    }


def merge_field(audience: Audience, field: MergeFieldRecord) -> dict[str, Any]:
    return {
        "merge_id": field.merge_id,
        "tag": field.tag,
        "name": field.name,
        "type": field.type,
        "required": field.required,
        "default_value": field.default_value,
        "public": field.public,
        "display_order": field.display_order,
        "options": field.options,
        "help_text": field.help_text,
        "list_id": audience.id,
        "_links": links(),
    }


def segment(audience: Audience, value: SegmentRecord) -> dict[str, Any]:
    members = segment_members(audience, value, SEGMENT_MEMBERS_DEFAULT_STATUSES)
    document: dict[str, Any] = {
        "id": value.id,
        "name": value.name,
        "member_count": len(members),
        "type": value.type,
        "created_at": timestamp(value.created_at),
        "updated_at": timestamp(value.updated_at),
        "list_id": audience.id,
        "_links": links(),
    }
    if value.type == "saved":
        document["options"] = {"match": value.match, "conditions": value.conditions}
    return document


def webhook(audience: Audience, value: WebhookRecord) -> dict[str, Any]:
    return {
        "id": value.id,
        "url": value.url,
        "events": value.events,
        "sources": value.sources,
        "list_id": audience.id,
        "signing_enabled": value.signing_secret is not None,
        "enabled": value.enabled,
        "_links": links(),
    }


def batch(value: BatchRecord) -> dict[str, Any]:
    return {
        "id": value.id,
        "status": value.status,
        "total_operations": value.total_operations,
        "finished_operations": value.finished_operations,
        "errored_operations": value.errored_operations,
        "submitted_at": timestamp(value.submitted_at),
        "completed_at": timestamp(value.completed_at),
        "response_body_url": value.result_url if value.status == "finished" else "",
        "_links": links(),
    }
