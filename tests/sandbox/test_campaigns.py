"""The sandbox's campaigns: listed and read through the official client, filtered by status and audience,
with ``recipients.segment_opts`` and a recipient count, in the shape Mailchimp's spec gives them."""

from typing import Any

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from connector.sandbox.server import SandboxHandle

from .contract import exchanges, load_checker

ANN, BOB, CAT = "ann.berg@konsert.no", "bob.dahl@konsert.no", "cat.lie@konsert.no"


def make_campaign(sandbox: SandboxHandle, **body: Any) -> dict[str, Any]:
    answer = requests.post(f"{sandbox.root_url}/_sandbox/campaigns", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _member(client: Any, list_id: str, email: str, status: str, tags: list[str]) -> None:
    client.lists.add_list_member(list_id, {"email_address": email, "status": status, "tags": tags})


def test_campaigns_list_info_and_recipient_counts(client: Any, sandbox: SandboxHandle, list_id: str) -> None:
    _member(client, list_id, ANN, "subscribed", ["cs:offers"])
    _member(client, list_id, BOB, "subscribed", ["cs:notices"])
    _member(client, list_id, CAT, "transactional", ["cs:offers"])
    tag = client.lists.list_segments(list_id, type="static")["segments"]
    offers = next(s for s in tag if s["name"] == "cs:offers")
    saved = client.lists.create_segment(
        list_id,
        {
            "name": "Marketing: offers",
            "options": {
                "match": "all",
                "conditions": [
                    {
                        "condition_type": "StaticSegment",
                        "field": "static_segment",
                        "op": "static_is",
                        "value": offers["id"],
                    }
                ],
            },
        },
    )
    assert client.lists.get_segment(list_id, saved["id"])["member_count"] == 1
    whole = make_campaign(sandbox, list_id=list_id, status="save", title="Everyone")
    segmented = make_campaign(
        sandbox,
        list_id=list_id,
        status="schedule",
        title="Offers",
        segment_opts={"saved_segment_id": saved["id"]},
        send_time="2030-01-01T10:00:00+00:00",
    )
    make_campaign(sandbox, list_id=list_id, status="sent", title="Old news")

    every = client.campaigns.list(list_id=list_id, count=100)
    assert every["total_items"] == 3
    scheduled = client.campaigns.list(status="schedule", list_id=list_id)
    assert [c["id"] for c in scheduled["campaigns"]] == [segmented["id"]]
    options = scheduled["campaigns"][0]["recipients"]["segment_opts"]
    assert options["saved_segment_id"] == saved["id"]
    assert options["conditions"][0]["value"] == offers["id"]
    assert scheduled["campaigns"][0]["recipients"]["recipient_count"] == 1

    info = client.campaigns.get(whole["id"])
    assert info["status"] == "save"
    assert "segment_opts" not in info["recipients"]
    assert info["recipients"]["recipient_count"] == 2  # everyone subscribed, whatever their tags

    with pytest.raises(ApiClientError) as missing:
        client.campaigns.get("nope")
    assert missing.value.status_code == 404
    with pytest.raises(ApiClientError) as bad:
        client.campaigns.list(status="gone")
    assert bad.value.status_code == 400

    checker = load_checker()
    calls = [c for c in exchanges(sandbox.runtime.observations.requests()) if "campaigns" in c.template]
    assert calls
    assert [v for call in calls for v in checker.violations(call)] == []


def test_a_campaign_needs_an_audience_and_known_segments(sandbox: SandboxHandle, list_id: str) -> None:
    url = f"{sandbox.root_url}/_sandbox/campaigns"
    assert requests.post(url, json={"list_id": "nope"}, timeout=10).status_code == 400
    unknown = {"list_id": list_id, "segment_opts": {"saved_segment_id": 999999}}
    assert requests.post(url, json=unknown, timeout=10).status_code == 400
