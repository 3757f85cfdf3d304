"""An objection made on the privacy page keeps the browser's IP address and user agent as evidence, as a
consent does: shown on the page, in the subject export and in the console's evidence (privacy role),
never in a log."""

from collections.abc import Iterator
from dataclasses import replace

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector.api.app import create_app
from connector.console.users import add_user
from connector.core.remote import subscriber_hash
from connector.logs import configure_logging
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.services.context import AppContext
from connector.services.preference_links import issue_token
from connector.services.subjects import export_subject
from connector.settings import LoggingSettings
from connector.store.engine import unit_of_work
from connector.store.tables import ContactRow, ObjectionRow
from tests.api.conftest import api_settings
from tests.api.privacy_support import with_privacy
from tests.console.conftest import PASSWORD, sign_in
from tests.sync.support import trip

EMAIL = "ola.innsigelse@example.no"
IP = "192.0.2.44"
AGENT = "EvidenceBrowser/2.0 (X11; Linux x86_64)"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def page_ctx(ctx: AppContext) -> AppContext:
    local = with_privacy(replace(ctx, settings=api_settings(ctx.settings)))
    add_user(local, "privacy", "privacy", PASSWORD)
    add_user(local, "marketer", "marketer", PASSWORD)
    return local


@pytest.fixture
def web(page_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(page_ctx), base_url="http://127.0.0.1", client=(IP, 50123)) as client:
        yield client


@pytest.fixture
def debug_logging() -> Iterator[None]:
    configure_logging(LoggingSettings(level="DEBUG", format="json"))
    yield
    configure_logging(LoggingSettings())
    structlog.reset_defaults()


def _token(ctx: AppContext) -> str:
    with unit_of_work(ctx.engine) as session:
        contact = session.execute(select(ContactRow).where(ContactRow.email == EMAIL)).scalar_one()
    return issue_token(ctx.settings, contact.id, ctx.now())


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _objections(ctx: AppContext) -> list[ObjectionRow]:
    with unit_of_work(ctx.engine) as session:
        rows = list(session.execute(select(ObjectionRow)).scalars())
        for row in rows:
            session.expunge(row)
    return rows


def test_an_objection_on_the_page_keeps_ip_and_agent_shown_and_exported_never_logged(
    page_ctx: AppContext, web: TestClient, debug_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    trip(page_ctx, EMAIL, departs_in_days=30)  # soft opt-in: offers by e-mail, stopped by an objection
    token = _token(page_ctx)
    headers = {"User-Agent": AGENT}
    csrf = _csrf(web.get(f"/me/{token}", headers=headers).text)
    form = {"csrf_token": csrf, "action": "withdraw", "choice": "offers:email", "lang": "en"}
    stopped = web.post(f"/me/{token}", data=form, headers=headers, follow_redirects=False)
    assert stopped.status_code == 303
    all_form = {"csrf_token": csrf, "action": "object_all", "lang": "en"}
    objected = web.post(f"/me/{token}", data=all_form, headers=headers, follow_redirects=False)
    assert objected.status_code == 303
    rows = _objections(page_ctx)
    assert sorted((r.purpose or "all", r.ip, r.user_agent) for r in rows) == [
        ("all", IP, AGENT),
        ("offers", IP, AGENT),
    ]

    page = web.get(f"/me/{token}?lang=en").text
    objections = page.split('id="held"', 1)[1].split("<h3>", 4)[4]  # the objections' list
    assert objections.count(IP) == 2
    assert objections.count(AGENT) == 2
    document = web.get(f"/me/{token}/export.json").json()
    assert {(o["ip"], o["user_agent"]) for o in document["objections"]} == {(IP, AGENT)}
    assert export_subject(page_ctx, EMAIL)["objections"][0]["ip"] == IP  # the same as subject export

    assert sign_in(web, "privacy") == 303
    console = web.get(f"/console/contact?q={EMAIL}").text
    evidence = console.split('class="card wide evidence"', 1)[1].split("</section>", 1)[0]
    assert evidence.count(IP) == 2
    assert evidence.count(AGENT) == 2
    assert sign_in(web, "marketer") == 303
    assert "evidence" not in web.get(f"/console/contact?q={EMAIL}").text.split("<main>", 1)[1]

    logs = "".join(capsys.readouterr())
    assert "privacy" in logs or "console" in logs  # something was logged at DEBUG
    assert IP not in logs
    assert "EvidenceBrowser" not in logs


def test_an_objection_recorded_by_staff_carries_no_browser_evidence(page_ctx: AppContext) -> None:
    from connector.services.context import Origin
    from connector.services.objections import record_objection

    row = record_objection(page_ctx, EMAIL, Origin("console:privacy", "console"), occurred_at=page_ctx.now())
    assert (row.ip, row.user_agent) == (None, None)
    assert export_subject(page_ctx, EMAIL)["objections"][0]["ip"] is None


def test_an_objection_on_the_page_is_in_explain_the_history_and_after_a_sync_in_mailchimp(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    from connector.services.explain import explain_contact
    from connector.sync.connect import open_gateway
    from connector.sync.run import sync_audience
    from tests.sync.support import list_id, with_sandbox

    local = with_privacy(with_sandbox(replace(ctx, settings=api_settings(ctx.settings)), sandbox))
    audience = local.settings.audiences[0].model_copy(update={"list_id": None})
    local = replace(local, settings=local.settings.model_copy(update={"audiences": (audience,)}))
    trip(local, EMAIL, departs_in_days=30)
    with open_gateway(local.settings.mailchimp) as gateway, TestClient(create_app(local)) as client:
        sync_audience(local, gateway, "main")
        assert "cs:offers" in gateway.member_tags(list_id(local), subscriber_hash(EMAIL))
        token = _token(local)
        csrf = _csrf(client.get(f"/me/{token}").text)
        form = {"csrf_token": csrf, "action": "object_all", "lang": "en"}
        assert client.post(f"/me/{token}", data=form, follow_redirects=False).status_code == 303
        sentences = " ".join(explain_contact(local, EMAIL).sentences)
        assert "objected to all marketing" in sentences
        assert "via the privacy page" in sentences or "privacy-page" in sentences
        history = export_subject(local, EMAIL)["history"]
        assert any(h["action"] == "objection.recorded" and h["actor"] == "person" for h in history)
        assert "objection.recorded" in client.get(f"/me/{token}?lang=en").text  # the page's history
        sync_audience(local, gateway, "main")
        tags = gateway.member_tags(list_id(local), subscriber_hash(EMAIL))
    assert "cs:offers" not in tags
    assert "cs:transactional" in tags
