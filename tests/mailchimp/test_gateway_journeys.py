"""``MailchimpGateway.trigger_journey``: 204 is done, a 400 is that member's refusal (data), 404 is fatal."""

import json

import pytest
import responses

from connector.errors import FatalMailchimpError
from connector.mailchimp import MailchimpGateway, RejectionKind

from .conftest import BASE, md5

URL = f"{BASE}/customer-journeys/journeys/7/steps/8/actions/trigger"


def test_an_accepted_trigger_returns_nothing(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    rsps.post(URL, status=204)
    assert gateway.trigger_journey(7, 8, "kari@example.no") is None
    assert json.loads(rsps.calls[0].request.body or b"") == {"email_address": "kari@example.no"}


def test_a_refused_member_is_returned_as_data(
    rsps: responses.RequestsMock, gateway: MailchimpGateway
) -> None:
    problem = {"title": "Bad Request", "status": 400, "detail": "kari@example.no is cleaned"}
    rsps.post(URL, status=400, json=problem, content_type="application/problem+json")
    refusal = gateway.trigger_journey(7, 8, "kari@example.no")
    assert refusal is not None
    assert (refusal.subscriber_hash, refusal.kind) == (md5("kari@example.no"), RejectionKind.OTHER)
    assert "kari@example.no" not in refusal.message


def test_an_unknown_journey_is_fatal(rsps: responses.RequestsMock, gateway: MailchimpGateway) -> None:
    rsps.post(URL, status=404, json={"title": "Resource Not Found", "status": 404, "detail": "no"})
    with pytest.raises(FatalMailchimpError):
        gateway.trigger_journey(7, 8, "kari@example.no")
