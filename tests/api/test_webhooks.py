"""The webhook receiver: authenticity, durability before 2xx, de-duplication, ordering, effects."""

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from connector.api.app import create_app
from connector.core.model import SuppressionReason
from connector.core.remote import subscriber_hash
from connector.core.signatures import webhook_signature
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.services.subjects import erase_subject
from connector.services.suppressions import is_suppressed
from connector.store.engine import unit_of_work
from connector.store.http_tables import SyncRequestRow, WebhookInboxRow
from connector.store.sync_tables import MirrorMemberRow
from connector.store.tables import ConsentEventRow, ContactRow, ObjectionRow
from tests.api.conftest import (
    FORM,
    HOOK,
    LIST_ID,
    consented,
    event_body,
    subscribe,
    unsubscribe,
    with_sections,
)
from tests.conftest import START

EMAIL = "kari.nordmann@firma.no"
ORIGIN = Origin("test", "test")


def _consented(ctx: AppContext, email: str = EMAIL) -> None:
    consented(ctx, email, at=START - timedelta(days=10))


def _newsletter_allowed(ctx: AppContext, email: str = EMAIL) -> bool:
    entitlement = explain_contact(ctx, email).entitlement
    return next(d.allowed for d in entitlement.marketing if d.purpose == "newsletter")


def _count(ctx: AppContext, table: type, *where: object) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _withdrawals(ctx: AppContext) -> int:
    return _count(ctx, ConsentEventRow, col(ConsentEventRow.action) == "withdrawn")


def test_get_check_answers_200_and_stores_nothing(client: TestClient, api_ctx: AppContext) -> None:
    assert client.get(HOOK).status_code == 200
    assert client.post(HOOK, content=b"", headers=FORM).json() == {"status": "ok"}
    assert _count(api_ctx, WebhookInboxRow) == 0


def test_wrong_secret_is_404_and_stores_nothing(client: TestClient, api_ctx: AppContext) -> None:
    body = unsubscribe(EMAIL, START)
    assert client.get("/webhooks/mailchimp/wrong").status_code == 404
    assert client.post("/webhooks/mailchimp/wrong", content=body, headers=FORM).status_code == 404
    assert _count(api_ctx, WebhookInboxRow) == 0
    assert _count(api_ctx, ContactRow) == 0


def test_bad_signature_is_401_and_a_good_one_is_accepted(api_ctx: AppContext) -> None:
    signed = replace(
        api_ctx, settings=with_sections(api_ctx.settings, webhooks={"signing_secret": SecretStr("sig")})
    )
    body = unsubscribe(EMAIL, START)
    now = int(START.timestamp())
    with TestClient(create_app(signed)) as client:
        missing = client.post(HOOK, content=body, headers=FORM)
        wrong = client.post(HOOK, content=body, headers={**FORM, "X-Mailchimp-Signature": f"t={now},v1=00"})
        stale_sig = f"t={now - 3600},v1={webhook_signature('sig', now - 3600, body)}"
        stale = client.post(HOOK, content=body, headers={**FORM, "X-Mailchimp-Signature": stale_sig})
        assert (missing.status_code, wrong.status_code, stale.status_code) == (401, 401, 401)
        assert _count(signed, WebhookInboxRow) == 0
        good = f"t={now},v1={webhook_signature('sig', now, body)}"
        assert (
            client.post(HOOK, content=body, headers={**FORM, "X-Mailchimp-Signature": good}).status_code
            == 200
        )
    assert _count(signed, WebhookInboxRow) == 1


def test_malformed_body_is_400(client: TestClient, api_ctx: AppContext) -> None:
    answer = client.post(HOOK, content=b"type=nonsense&fired_at=2026-11-23+10%3A00%3A00", headers=FORM)
    assert answer.status_code == 400
    assert _count(api_ctx, WebhookInboxRow) == 0


def test_unsubscribe_withdraws_and_requests_a_sync(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    assert _newsletter_allowed(api_ctx)
    answer = client.post(HOOK, content=unsubscribe(EMAIL, START - timedelta(minutes=5)), headers=FORM)
    assert answer.json() == {"status": "applied"}
    assert not _newsletter_allowed(api_ctx)
    with unit_of_work(api_ctx.engine) as session:
        request = session.get(SyncRequestRow, "main")
        rows = session.execute(
            select(ConsentEventRow).where(col(ConsentEventRow.action) == "withdrawn")
        ).scalars()
        withdrawn = list(rows)
    assert request is not None
    assert {r.source for r in withdrawn} == {"mailchimp-webhook"}
    assert {r.occurred_at for r in withdrawn} == {START - timedelta(minutes=5)}
    assert all("cb398d21d2" in (r.source_ref or "") for r in withdrawn)


def test_replay_is_a_duplicate_that_changes_nothing(client: TestClient, api_ctx: AppContext) -> None:
    body = unsubscribe(EMAIL, START)
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "applied"}
    before = _withdrawals(api_ctx)
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "duplicate"}
    assert _withdrawals(api_ctx) == before
    assert _count(api_ctx, WebhookInboxRow) == 1


def test_concurrent_duplicates_apply_exactly_once(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    body = unsubscribe(EMAIL, START)
    answers: list[str] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        answers.append(client.post(HOOK, content=body, headers=FORM).json()["status"])

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["applied"] + ["duplicate"] * 7
    assert _withdrawals(api_ctx) == 3  # one per purpose of the audience
    assert _count(api_ctx, WebhookInboxRow) == 1


def test_older_subscribe_after_newer_unsubscribe_stays_opted_out(api_ctx: AppContext) -> None:
    trusting = replace(
        api_ctx, settings=with_sections(api_ctx.settings, policy={"trust_mailchimp_signup_forms": True})
    )
    _consented(trusting)
    with TestClient(create_app(trusting)) as client:
        client.post(HOOK, content=unsubscribe(EMAIL, START - timedelta(hours=1)), headers=FORM)
        late = client.post(HOOK, content=subscribe(EMAIL, START - timedelta(hours=2)), headers=FORM)
        assert late.json() == {"status": "applied"}
        assert not _newsletter_allowed(trusting)
        client.post(HOOK, content=subscribe(EMAIL, START - timedelta(minutes=1)), headers=FORM)
    # a newer sign-up through Mailchimp's own form counts, once confirmed (a form needs double opt-in)
    newsletter = next(
        d for d in explain_contact(trusting, EMAIL).entitlement.marketing if d.purpose == "newsletter"
    )
    assert not newsletter.allowed
    assert "the newer consent of 2026-11-23 is not yet valid" in newsletter.reason
    no_confirmation = replace(
        trusting,
        settings=with_sections(
            trusting.settings, policy={"trust_mailchimp_signup_forms": True, "require_double_opt_in": False}
        ),
    )
    assert _newsletter_allowed(no_confirmation)


def test_subscribe_is_not_consent_unless_trusted(client: TestClient, api_ctx: AppContext) -> None:
    assert client.post(HOOK, content=subscribe(EMAIL, START), headers=FORM).json() == {"status": "recorded"}
    assert _count(api_ctx, ConsentEventRow) == 0


def test_failed_commit_answers_503_and_stores_nothing(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    before = _count(api_ctx, ConsentEventRow)

    def fail(_connection: object) -> None:
        raise OperationalError("COMMIT", {}, Exception("injected commit failure"))

    event.listen(api_ctx.engine, "commit", fail)
    try:
        answer = client.post(HOOK, content=unsubscribe(EMAIL, START), headers=FORM)
    finally:
        event.remove(api_ctx.engine, "commit", fail)
    assert answer.status_code == 503
    assert _count(api_ctx, WebhookInboxRow) == 0
    assert _count(api_ctx, ConsentEventRow) == before
    assert client.post(HOOK, content=unsubscribe(EMAIL, START), headers=FORM).json() == {"status": "applied"}


def test_spam_complaint_objects_and_suppresses(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    client.post(HOOK, content=unsubscribe(EMAIL, START, reason="abuse"), headers=FORM)
    assert _count(api_ctx, ObjectionRow) == 1
    with unit_of_work(api_ctx.engine) as session:
        assert is_suppressed(session, EMAIL, api_ctx.suppression_key)
    assert not _newsletter_allowed(api_ctx)


def test_cleaned_suppresses_the_address(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    body = event_body("cleaned", START, list_id=LIST_ID, campaign_id="c9", reason="hard", email=EMAIL)
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "applied"}
    assert not _newsletter_allowed(api_ctx)
    reasons = explain_contact(api_ctx, EMAIL).sentences
    assert reasons
    assert SuppressionReason.CLEANED.value


def test_upemail_moves_the_contact_and_its_mirror_row(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    new = "kari.ny@firma.no"
    with unit_of_work(api_ctx.engine) as session:
        contact_id = session.execute(select(ContactRow.id)).scalar_one()  # type: ignore[call-overload]
        session.add(
            MirrorMemberRow(
                list_id=LIST_ID,
                audience="main",
                subscriber_hash=subscriber_hash(EMAIL),
                email=EMAIL,
                status="subscribed",
                contact_id=contact_id,
                managed=True,
                confirmed_at=START,
            )
        )
    body = event_body("upemail", START, list_id=LIST_ID, new_id="x1", new_email=new, old_email=EMAIL)
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "applied"}
    assert _newsletter_allowed(api_ctx, new)  # consents carried over with the contact
    with unit_of_work(api_ctx.engine) as session:
        assert session.get(MirrorMemberRow, (LIST_ID, subscriber_hash(EMAIL))) is None
        moved = session.get(MirrorMemberRow, (LIST_ID, subscriber_hash(new)))
        assert moved is not None
        assert moved.contact_id == contact_id


def test_profile_updates_contact_fields_never_consent(client: TestClient, api_ctx: AppContext) -> None:
    _consented(api_ctx)
    before = _count(api_ctx, ConsentEventRow)
    body = event_body(
        "profile", START, id="x", list_id=LIST_ID, email=EMAIL, merges__FNAME="Kari", merges__LNAME="Berg"
    )
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "applied"}
    with unit_of_work(api_ctx.engine) as session:
        contact = session.execute(select(ContactRow)).scalar_one()
        assert (contact.first_name, contact.last_name) == ("Kari", "Berg")
    assert _count(api_ctx, ConsentEventRow) == before


def test_unknown_list_is_recorded_without_effect(client: TestClient, api_ctx: AppContext) -> None:
    body = unsubscribe(EMAIL, START, list_id="someone-else")
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "recorded"}
    assert _count(api_ctx, ContactRow) == 0


@pytest.mark.parametrize("kind", ["campaign"])
def test_campaign_is_recorded_only(client: TestClient, api_ctx: AppContext, kind: str) -> None:
    body = event_body(kind, START, id="camp1", subject="Hei", status="sent", reason="", list_id=LIST_ID)
    assert client.post(HOOK, content=body, headers=FORM).json() == {"status": "recorded"}
    assert _count(api_ctx, WebhookInboxRow) == 1
    time.sleep(0)


def test_webhook_for_an_erased_person_does_not_bring_their_data_back(
    api_ctx: AppContext, client: TestClient
) -> None:
    moment = api_ctx.now() - timedelta(hours=2)
    first = unsubscribe("gone@firma.no", moment)
    assert client.post(HOOK, content=first, headers=FORM).status_code == 200
    erase_subject(api_ctx, "gone@firma.no", ORIGIN)
    later = unsubscribe("gone@firma.no", moment + timedelta(hours=1))
    assert client.post(HOOK, content=later, headers=FORM).status_code == 200
    with unit_of_work(api_ctx.engine) as session:
        assert session.execute(select(ContactRow)).first() is None
        bodies = session.execute(select(col(WebhookInboxRow.body))).scalars().all()
    assert "gone" not in " ".join(bodies)


def test_openapi_documents_the_webhook_post_its_parameters_and_errors(client: TestClient) -> None:
    post = client.get("/openapi.json").json()["paths"]["/webhooks/mailchimp/{secret}"]["post"]
    assert {"200", "400", "401", "404", "503"} <= set(post["responses"])
    assert {(p["in"], p["name"]) for p in post["parameters"]} == {
        ("path", "secret"),
        ("header", "x-mailchimp-signature"),
    }
    assert "application/x-www-form-urlencoded" in post["requestBody"]["content"]
