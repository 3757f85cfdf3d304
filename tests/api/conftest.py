"""An app on the test database: a webhook secret, a write and a read-only admin token, a known list id."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from connector.api.app import create_app
from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod
from connector.core.signatures import token_digest
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.settings import AdminSettings, Settings

SECRET = "hook-secret-5b1f"
LIST_ID = "list0001"
WRITE_TOKEN = "write-token-0123456789"
READ_TOKEN = "read-token-0123456789"
HOOK = f"/webhooks/mailchimp/{SECRET}"


def tokens_entry() -> str:
    return f"ops:write:{token_digest(WRITE_TOKEN)},viewer:read:{token_digest(READ_TOKEN)}"


def with_sections(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """``settings`` with some keys of some sections replaced."""
    update = {name: getattr(settings, name).model_copy(update=values) for name, values in sections.items()}
    return settings.model_copy(update=update)


def api_settings(settings: Settings) -> Settings:
    base = with_sections(settings, webhooks={"secret": SecretStr(SECRET)})
    audience = base.audiences[0].model_copy(update={"list_id": LIST_ID})
    admin = AdminSettings(tokens=SecretStr(tokens_entry()))
    return base.model_copy(update={"audiences": (audience,), "admin": admin})


@pytest.fixture
def api_ctx(ctx: AppContext) -> AppContext:
    return replace(ctx, settings=api_settings(ctx.settings))


@pytest.fixture
def client(api_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(api_ctx)) as test_client:
        yield test_client


def fired(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def event_body(kind: str, moment: datetime, **data: str) -> bytes:
    """A form-encoded webhook body as Mailchimp sends it (``data[merges][FNAME]`` bracket keys)."""
    pairs = [("type", kind), ("fired_at", fired(moment))]
    pairs += [(f"data[{key.replace('__', '][')}]", value) for key, value in data.items()]
    return urlencode(pairs).encode()


def unsubscribe(email: str, moment: datetime, reason: str = "manual", list_id: str = LIST_ID) -> bytes:
    return event_body(
        "unsubscribe",
        moment,
        action="unsub",
        reason=reason,
        id="8a25ff1d98",
        list_id=list_id,
        email=email,
        email_type="html",
        campaign_id="cb398d21d2",
        merges__EMAIL=email,
        merges__FNAME="Kari",
    )


def subscribe(email: str, moment: datetime) -> bytes:
    return event_body(
        "subscribe",
        moment,
        id="8a25ff1d98",
        list_id=LIST_ID,
        email=email,
        ip_opt="10.20.10.30",
        merges__EMAIL=email,
    )


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def consented(ctx: AppContext, email: str, *, at: datetime) -> None:
    """A confirmed form consent to newsletter and offers by e-mail, given at ``at``."""
    evidence = Evidence(
        occurred_at=at, method=ConsentMethod.FORM, notice_version="n1", recorded_by=Actor.PERSON
    )
    for action in (ConsentAction.GIVEN, ConsentAction.CONFIRMED):
        record_consent(
            ctx, email, ["newsletter", "offers"], Channel.EMAIL, action, evidence, Origin("test", "test")
        )
