"""Property tests (hypothesis) over the store: imports, webhooks and API calls in any order.

- No sequence without an act naming ``partner_offers`` (``explicit_only``) ever makes it allowed.
- Every stored grant's evidence names its real source and never an invented notice version: the notice
  is one that was given (a CSV column, the API call) or ``unknown``, and the source reference says where
  the claim came from.
"""

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connector.api.inbox import Delivery, accept_batch
from connector.core.model import Channel, ConsentAction, ConsentMethod
from connector.core.webhook_events import parse_event
from connector.services.consents import Evidence, record_consent
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.settings import load_settings
from connector.store.engine import make_engine, unit_of_work
from connector.store.tables import ConsentEventRow, ContactRow
from tests.api.conftest import event_body
from tests.conftest import FakeClock
from tests.imports.test_importer import do_import

LIST = "list123"
STAFF = Origin(actor="test", source="cli")
GIVEN_NOTICES = frozenset({"crm-v2", "api-v1", "unknown"})
_counter = itertools.count()


@pytest.fixture
def store(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[AppContext]:
    loaded = load_settings(
        None,
        database={"url": database_url},
        security={"suppression_key_file": str(tmp_path / "test.key")},
        policy={"trust_mailchimp_signup_forms": True},
        audiences=[
            {
                "name": "main",
                "list_id": LIST,
                "purposes": ["newsletter", "offers", "partner_offers"],
                "interests": [
                    {"purpose": "newsletter", "category": "Interests", "interest": "Newsletter"},
                    {"purpose": "partner_offers", "category": "Interests", "interest": "Partner offers"},
                ],
            }
        ],
    )
    engine = make_engine(loaded.database.url)
    yield AppContext(settings=loaded, engine=engine, suppression_key=b"test-suppression-key", clock=clock)
    engine.dispose()


STEPS = st.lists(
    st.sampled_from(
        (
            "export-groups-newsletter",
            "export-groups-none",
            "export-no-groups",
            "export-unconfirmed",
            "csv-no-purpose",
            "csv-newsletter",
            "webhook-subscribe",
            "webhook-subscribe-newsletter",
            "webhook-unsubscribe",
            "api-offers",
        )
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_without_an_act_naming_it_partner_offers_is_never_allowed(
    store: AppContext, tmp_path: Path, steps: list[str]
) -> None:
    email = f"p{next(_counter)}@firma.no"
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for index, step in enumerate(steps):
        _perform(store, tmp_path, email, step, at + timedelta(hours=index))
        for moment in (store.now(), store.now() + timedelta(days=400)):
            decision = explain_contact(store, email, moment).entitlement.decision(
                "partner_offers", Channel.EMAIL
            )
            assert decision is not None
            assert not decision.allowed, (steps, decision.reason)
    for event in _grants(store, email):
        assert event.notice_version in GIVEN_NOTICES, event.notice_version
        assert event.source
        if event.source.startswith(("import:", "mailchimp")):  # the file and row, or the list and webhook
            assert event.source_ref, event.source


def _grants(ctx: AppContext, email: str) -> list[ConsentEventRow]:
    with unit_of_work(ctx.engine) as session:
        contact = session.execute(select(ContactRow).where(ContactRow.email == email)).scalar_one_or_none()  # type: ignore[arg-type]
        if contact is None:
            return []
        query = select(ConsentEventRow).where(ConsentEventRow.contact_id == contact.id)  # type: ignore[arg-type]
        rows = [r for r in session.execute(query).scalars() if r.action == ConsentAction.GIVEN.value]
        session.expunge_all()
    return rows


def _perform(ctx: AppContext, tmp_path: Path, email: str, step: str, at: datetime) -> None:
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    name = f"subscribed_members_export_{next(_counter)}.csv"
    match step:
        case "export-groups-newsletter" | "export-groups-none" | "export-unconfirmed":
            ticked = "Newsletter" if step != "export-groups-none" else ""
            confirmed = "" if step == "export-unconfirmed" else stamp
            body = (
                "Email Address,Interests,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,LAST_CHANGED,LEID\n"
                f"{email},{ticked},2,{stamp},{confirmed},{stamp},1\n"
            )
            do_import(ctx, _write(tmp_path, name, body), apply=True)
        case "export-no-groups":
            body = f"Email Address,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,LEID\n{email},2,{stamp},{stamp},1\n"
            do_import(ctx, _write(tmp_path, name, body), apply=True)
        case "csv-no-purpose" | "csv-newsletter":
            purpose = ",newsletter" if step == "csv-newsletter" else ""
            header = "email,consent,given_at,method,notice_version" + (",purpose" if purpose else "")
            body = f"{header}\n{email},yes,{at.date().isoformat()},checkout,crm-v2{purpose}\n"
            do_import(ctx, _write(tmp_path, f"crm{next(_counter)}.csv", body), source="crm", apply=True)
        case "webhook-subscribe" | "webhook-subscribe-newsletter":
            extra = {"merges__INTERESTS": "Newsletter"} if step.endswith("newsletter") else {}
            _deliver(
                ctx, event_body("subscribe", at, list_id=LIST, email=email, merges__EMAIL=email, **extra)
            )
        case "webhook-unsubscribe":
            body = event_body("unsubscribe", at, action="unsub", reason="manual", list_id=LIST, email=email)
            _deliver(ctx, body)
        case "api-offers":
            evidence = Evidence(occurred_at=at, method=ConsentMethod.CHECKOUT, notice_version="api-v1")
            record_consent(ctx, email, ["offers"], Channel.EMAIL, ConsentAction.GIVEN, evidence, STAFF)


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def _deliver(ctx: AppContext, body: bytes) -> None:
    answers = accept_batch(ctx, [Delivery(parse_event(body), body)])
    assert not any(isinstance(a, Exception) for a in answers), answers


def test_a_subscribe_webhook_grants_the_ticked_newsletter_unconfirmed(
    store: AppContext, tmp_path: Path
) -> None:
    email = "hook@firma.no"
    _perform(store, tmp_path, email, "webhook-subscribe-newsletter", datetime(2026, 3, 1, 10, tzinfo=UTC))

    grants = _grants(store, email)
    assert [(g.purpose, g.notice_version, g.source_ref) for g in grants] == [
        ("newsletter", "unknown", f"mailchimp subscribe webhook, list {LIST}")
    ]
    decision = explain_contact(store, email).entitlement.decision("newsletter", Channel.EMAIL)
    assert decision is not None
    assert "awaits double opt-in confirmation" in decision.reason
