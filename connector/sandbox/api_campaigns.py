"""Campaigns: ``GET /campaigns`` (filtered by ``status``, ``list_id``, ``type``) and ``GET /campaigns/{id}``,
each with ``recipients.segment_opts`` and a ``recipient_count`` the sandbox computes from the audience.

Campaigns are made by a marketer in Mailchimp's UI; the sandbox stands in for that with
``POST /_sandbox/campaigns`` (no auth), which is not part of Mailchimp's API.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from connector.core.remote import MemberStatus
from connector.sandbox.context import runtime_of
from connector.sandbox.problems import invalid, not_found
from connector.sandbox.segments import check_conditions, segment_members
from connector.sandbox.shaping import answer, json_body, links, page, parse_timestamp, timestamp
from connector.sandbox.state import Audience, CampaignRecord, SegmentRecord, short_id

router = APIRouter(prefix="/3.0/campaigns")
sandbox_router = APIRouter(prefix="/_sandbox/campaigns")
STATUSES = frozenset({"save", "paused", "schedule", "sending", "sent", "canceled", "canceling", "archived"})
TYPES = frozenset({"regular", "plaintext", "absplit", "rss", "variate"})
SUBSCRIBED = frozenset({MemberStatus.SUBSCRIBED.value})


@router.get("")
async def list_campaigns(request: Request) -> Response:
    runtime = runtime_of(request)
    query = request.query_params
    status, list_id, kind = query.get("status"), query.get("list_id"), query.get("type")
    if status is not None and status not in STATUSES:
        raise invalid("status", f"status must be one of {', '.join(sorted(STATUSES))}")
    if kind is not None and kind not in TYPES:
        raise invalid("type", f"type must be one of {', '.join(sorted(TYPES))}")
    with runtime.state.lock:
        found = [
            c
            for c in sorted(runtime.state.data.campaigns.values(), key=lambda c: (c.create_time, c.web_id))
            if (status is None or c.status == status)
            and (list_id is None or c.list_id == list_id)
            and (kind is None or c.type == kind)
        ]
        audiences = runtime.state.data.audiences
        documents = [campaign_document(c, audiences.get(c.list_id)) for c in page(request, found)]
    return answer(request, {"campaigns": documents, "total_items": len(found), "_links": links()})


@router.get("/{campaign_id}")
async def get_campaign(campaign_id: str, request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.state.lock:
        campaign = runtime.state.data.campaigns.get(campaign_id)
        if campaign is None:
            raise not_found()
        return answer(request, campaign_document(campaign, runtime.state.audience(campaign.list_id)))


@sandbox_router.post("")
async def create_campaign(request: Request) -> Response:
    """A marketer saves (or schedules, or pauses) a campaign: ``{"list_id", "status", "title",
    "subject_line", "type", "segment_opts", "send_time"}``; only ``list_id`` is required."""
    runtime = runtime_of(request)
    body = await json_body(request)
    status = body.get("status", "save")
    kind = body.get("type", "regular")
    if status not in STATUSES:
        raise invalid("status", f"status must be one of {', '.join(sorted(STATUSES))}")
    if kind not in TYPES:
        raise invalid("type", f"type must be one of {', '.join(sorted(TYPES))}")
    with runtime.state.lock:
        audience = runtime.state.audience(str(body.get("list_id", "")))
        if audience is None:
            raise invalid("list_id", "list_id must name an audience of this account")
        options = _segment_opts(audience, body.get("segment_opts"))
        number = runtime.state.next_number()
        send_time = body.get("send_time")
        campaign = CampaignRecord(
            id=short_id("campaign", number),
            web_id=number,
            list_id=audience.id,
            status=str(status),
            type=str(kind),
            title=str(body.get("title", "") or f"Campaign {number}"),
            subject_line=str(body.get("subject_line", "")),
            create_time=runtime.now(),
            segment_opts=options,
            send_time=parse_timestamp(send_time, "send_time") if isinstance(send_time, str) else None,
        )
        runtime.state.data.campaigns[campaign.id] = campaign
        return JSONResponse(campaign_document(campaign, audience))


def _segment_opts(audience: Audience, raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise invalid("segment_opts", "segment_opts must be an object")
    options: dict[str, Any] = {}
    if "saved_segment_id" in raw:
        segment = _segment_of(audience, raw["saved_segment_id"])
        if segment is None:
            raise invalid("segment_opts.saved_segment_id", "no segment with this id on the audience")
        options["saved_segment_id"] = segment.id
        if segment.type == "saved":
            options |= {"match": segment.match, "conditions": list(segment.conditions)}
    elif raw.get("conditions"):
        match, conditions = raw.get("match", "any"), raw["conditions"]
        if not isinstance(conditions, list):
            raise invalid("segment_opts.conditions", "conditions must be an array")
        check_conditions(audience, match, conditions)
        options |= {"match": match, "conditions": list(conditions)}
    if isinstance(raw.get("prebuilt_segment_id"), str):
        options["prebuilt_segment_id"] = raw["prebuilt_segment_id"]
    return options or None


def _segment_of(audience: Audience, value: Any) -> SegmentRecord | None:
    try:
        return audience.segments.get(int(value))
    except (TypeError, ValueError):
        return None


def _recipients(campaign: CampaignRecord, audience: Audience | None) -> dict[str, Any]:
    recipients: dict[str, Any] = {
        "list_id": campaign.list_id,
        "list_is_active": audience is not None,
        "list_name": audience.name if audience else "",
        "segment_text": "",
        "recipient_count": 0,
    }
    if audience is None:
        return recipients
    options = campaign.segment_opts or {}
    segment = _segment_of(audience, options.get("saved_segment_id"))
    if segment is None and options.get("conditions"):
        now = campaign.create_time
        segment = SegmentRecord(0, "", "saved", now, now, options.get("match", "any"), options["conditions"])
    if segment is not None:
        recipients["recipient_count"] = len(segment_members(audience, segment, SUBSCRIBED))
        recipients["segment_text"] = f"<p>Segment: {segment.name or 'conditions'}</p>"
    else:
        recipients["recipient_count"] = sum(
            1 for m in audience.present_members() if m.status.value in SUBSCRIBED
        )
    if campaign.segment_opts:
        recipients["segment_opts"] = dict(campaign.segment_opts)
    return recipients


def campaign_document(campaign: CampaignRecord, audience: Audience | None) -> dict[str, Any]:
    defaults = audience.settings.get("campaign_defaults", {}) if audience else {}
    return {
        "id": campaign.id,
        "web_id": campaign.web_id,
        "type": campaign.type,
        "create_time": timestamp(campaign.create_time),
        "archive_url": f"http://eepurl.com/sandbox-c{campaign.web_id}",
        "long_archive_url": f"https://us1.campaign-archive.com/?u=sandbox&id={campaign.id}",
        "status": campaign.status,
        "emails_sent": 0,
        "send_time": timestamp(campaign.send_time),
        "content_type": "template",
        "needs_block_refresh": False,
        "resendable": False,
        "recipients": _recipients(campaign, audience),
        "settings": {
            "subject_line": campaign.subject_line,
            "preview_text": "",
            "title": campaign.title,
            "from_name": str(defaults.get("from_name", "")),
            "reply_to": str(defaults.get("from_email", "")),
            "use_conversation": False,
            "to_name": "",
            "folder_id": "",
            "authenticate": True,
            "auto_footer": False,
            "inline_css": False,
            "auto_tweet": False,
            "fb_comments": True,
            "timewarp": False,
            "template_id": 0,
            "drag_and_drop": True,
        },
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False, "goal_tracking": False},
        "delivery_status": {"enabled": False},
        "_links": links(),
    }
