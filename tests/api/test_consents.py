"""Consent capture: only a ticked box the person ticked; one double opt-in per sign-up."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import col

from connector.api.app import create_app
from connector.errors import ConfigError
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.tables import ConsentEventRow
from tests.api.conftest import with_sections

EMAIL = "sign.up@firma.no"
SIGN_UP = {"email": EMAIL, "purposes": ["newsletter"], "notice_version": "web-2026-11", "checkbox": "on"}


@pytest.fixture
def link_ctx(api_ctx: AppContext) -> AppContext:
    settings = with_sections(
        api_ctx.settings,
        consent_capture={"confirmation": "link", "public_base_url": "https://consent.firma.no"},
        security={"confirmation_key": SecretStr("confirm-key")},
    )
    return replace(api_ctx, settings=settings)


@pytest.fixture
def link_client(link_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(link_ctx)) as client:
        yield client


def _events(ctx: AppContext, action: str) -> int:
    query = select(func.count()).select_from(ConsentEventRow).where(col(ConsentEventRow.action) == action)
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"checkbox": None}, "checkbox"),
        ({"checkbox": ""}, "checkbox"),
        ({"checkbox_prechecked": True}, "checkbox_prechecked"),
    ],
)
def test_unticked_or_preticked_box_is_refused(
    link_client: TestClient, link_ctx: AppContext, change: dict[str, object], field: str
) -> None:
    answer = link_client.post("/consents", json={**SIGN_UP, **change})
    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert _events(link_ctx, "given") == 0


def test_link_confirms_the_sign_up_once(link_client: TestClient, link_ctx: AppContext) -> None:
    answer = link_client.post("/consents", json=SIGN_UP)
    assert answer.status_code == 201
    url = answer.json()["confirmation_url"]
    assert url.startswith("https://consent.firma.no/consents/confirm/")
    with unit_of_work(link_ctx.engine) as session:
        given = session.execute(select(ConsentEventRow)).scalar_one()
        assert given.double_opt_in_requested_at is not None
        assert given.active_act
    path = url.removeprefix("https://consent.firma.no")
    assert link_client.get(path).json() == {"purposes": ["newsletter"]}
    assert link_client.get(path).status_code == 200
    assert _events(link_ctx, "confirmed") == 1


def test_tampered_or_expired_link_is_404(link_client: TestClient, link_ctx: AppContext) -> None:
    url = link_client.post("/consents", json=SIGN_UP).json()["confirmation_url"]
    path = url.removeprefix("https://consent.firma.no")
    assert link_client.get(path[:-2] + "xx").status_code == 404
    link_ctx.clock.advance(hours=73)  # type: ignore[attr-defined]
    assert link_client.get(path).status_code == 404
    assert _events(link_ctx, "confirmed") == 0


def test_link_mode_needs_a_key(api_ctx: AppContext) -> None:
    settings = with_sections(api_ctx.settings, consent_capture={"confirmation": "link"})
    with pytest.raises(ConfigError, match="confirmation_key"):
        create_app(replace(api_ctx, settings=settings))


def test_mailchimp_mode_records_and_defers_the_pending_put(client: TestClient, api_ctx: AppContext) -> None:
    """No Mailchimp configured: the sign-up is still recorded; the background task logs its failure."""
    answer = client.post("/consents", json=SIGN_UP)
    assert answer.status_code == 201
    assert answer.json()["confirmation"] == "mailchimp"
    assert answer.json()["confirmation_url"] is None
    assert _events(api_ctx, "given") == 1
