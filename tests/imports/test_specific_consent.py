"""Mailchimp exports as Mailchimp writes them: purposes granted, confirmations required, evidence kept.

Issue 16 items 1–4: a generic sign-up never grants an ``explicit_only`` purpose; group columns mapped to
purposes grant exactly what was ticked; the notice is recorded unknown, never invented; an opt-in without
``CONFIRM_TIME`` is an unconfirmed grant.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.core.model import Channel, Rule
from connector.imports.report import render_text
from connector.services.context import AppContext
from connector.services.explain import explain_contact
from connector.services.subjects import export_subject
from connector.settings import load_settings
from connector.store.engine import make_engine, unit_of_work
from connector.store.tables import ConsentEventRow
from tests.conftest import FakeClock
from tests.imports.test_importer import do_import, write

HEADER = (
    "Email Address,First Name,Last Name,Interests,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
    "LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
)
SUBSCRIBED = HEADER + (
    'both@firma.no,Bo,Th,"Newsletter, Partner offers",2,2026-03-01 10:00:00,192.0.2.1,2026-03-01 10:05:00,'
    "192.0.2.1,,,,,,NO,,2026-03-01 10:05:00,11,e1,,\n"
    "news@firma.no,Ny,Ht,Newsletter,2,2026-03-02 10:00:00,192.0.2.2,,,,,,,,NO,,2026-03-02 10:00:00,12,e2,,\n"
    "none@firma.no,No,Ne,,2,2026-03-03 10:00:00,192.0.2.3,2026-03-03 10:01:00,"
    ",,,,,,NO,,2026-03-03 10:01:00,13,e3,,\n"
)
NO_GROUPS = (
    "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
    "LAST_CHANGED,LEID,EUID\n"
    "plain@firma.no,Pl,2,2026-04-01 09:00:00,192.0.2.9,2026-04-01 09:02:00,192.0.2.9,"
    "2026-04-01 09:02:00,21,f1\n"
    "unconfirmed@firma.no,Un,2,2026-04-02 09:00:00,192.0.2.8,,,2026-04-02 09:00:00,22,f2\n"
)
UNSUBSCRIBED = (
    "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,"
    "UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID\n"
    "gone@firma.no,Go,1,2025-01-01 10:00:00,2025-01-01 10:01:00,2026-05-01 12:00:00,Spring,c1,Other,,31,g1\n"
)
CLEANED = (
    "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,"
    "CLEAN_CAMPAIGN_ID,LEID,EUID\n"
    "bounced@firma.no,Bo,1,2025-01-01 10:00:00,2025-01-01 10:01:00,2026-05-02 12:00:00,Spring,c1,41,h1\n"
)
INTERESTS = [
    {"purpose": "newsletter", "category": "Interests", "interest": "Newsletter", "interest_id": "i-news"},
    {
        "purpose": "partner_offers",
        "category": "Interests",
        "interest": "Partner offers",
        "interest_id": "i-part",
    },
]


@pytest.fixture
def mapped(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[AppContext]:
    settings = load_settings(
        None,
        database={"url": database_url},
        security={"suppression_key_file": str(tmp_path / "test.key")},
        policy={"trust_mailchimp_signup_forms": True},
        audiences=[
            {
                "name": "main",
                "list_id": "list123",
                "purposes": ["newsletter", "offers", "partner_offers"],
                "interests": INTERESTS,
            }
        ],
    )
    engine = make_engine(settings.database.url)
    yield AppContext(settings=settings, engine=engine, suppression_key=b"test-suppression-key", clock=clock)
    engine.dispose()


def _allowed(ctx: AppContext, email: str) -> dict[str, bool]:
    entitlement = explain_contact(ctx, email).entitlement
    return {d.purpose: d.allowed for d in entitlement.marketing if d.channel is Channel.EMAIL}


def _reason(ctx: AppContext, email: str, purpose: str) -> str:
    entitlement = explain_contact(ctx, email).entitlement
    return next(
        d.reason for d in entitlement.marketing if d.purpose == purpose and d.channel is Channel.EMAIL
    )


def _events(ctx: AppContext) -> list[ConsentEventRow]:
    with unit_of_work(ctx.engine) as session:
        rows = list(session.execute(select(ConsentEventRow)).scalars())
        session.expunge_all()
    return rows


def test_group_columns_grant_exactly_the_ticked_mapped_purposes(mapped: AppContext, tmp_path: Path) -> None:
    path = write(tmp_path, "subscribed_members_export_8f2a.csv", SUBSCRIBED)

    plan = do_import(mapped, path, apply=True)

    assert _allowed(mapped, "both@firma.no") == {"newsletter": True, "offers": False, "partner_offers": True}
    # ticked newsletter, no CONFIRM_TIME: an unconfirmed grant (a Mailchimp form is a form: double opt-in)
    assert _allowed(mapped, "news@firma.no") == {
        "newsletter": False,
        "offers": False,
        "partner_offers": False,
    }
    assert "awaits double opt-in confirmation" in _reason(mapped, "news@firma.no", "newsletter")
    # the group column is there and ticks nothing: nothing granted
    assert not any(_allowed(mapped, "none@firma.no").values())
    text = "\n".join(render_text(plan, applied=True)).replace(f"{tmp_path}/", "")
    assert "Consents by purpose: newsletter 2, partner_offers 1" in text
    assert (
        "Awaiting confirmation (1 claims): recorded unconfirmed, no marketing until confirmed "
        "(double opt-in): subscribed_members_export_8f2a.csv:3 (no CONFIRM_TIME)"
    ) in text
    assert "partner_offers: 2 claims" in text
    assert "interest 'Partner offers' not ticked" in text
    assert "offers: 3 claims" in text
    assert "no ticked Mailchimp interest is mapped to it" in text


def test_without_group_columns_a_sign_up_grants_the_newsletter_only(
    mapped: AppContext, tmp_path: Path
) -> None:
    path = write(tmp_path, "subscribed_members_export_77.csv", NO_GROUPS)

    plan = do_import(mapped, path, apply=True)

    assert _allowed(mapped, "plain@firma.no") == {
        "newsletter": True,
        "offers": False,
        "partner_offers": False,
    }
    assert "awaits double opt-in confirmation" in _reason(mapped, "unconfirmed@firma.no", "newsletter")
    partner = _reason(mapped, "plain@firma.no", "partner_offers")
    assert "only an act naming this purpose grants it (explicit_only)" in partner
    text = "\n".join(render_text(plan, applied=True)).replace(f"{tmp_path}/", "")
    assert (
        "partner_offers: 2 claims (subscribed_members_export_77.csv:2, subscribed_members_export_77.csv:3): "
        "granted only by an act naming this purpose (explicit_only); "
        "a Mailchimp sign-up without a mapped interest never grants it"
    ) in text
    assert "a Mailchimp sign-up without groups grants only mailchimp_signup_purposes (newsletter)" in text


def test_evidence_says_the_notice_is_unknown_and_names_where_it_came_from(
    mapped: AppContext, tmp_path: Path
) -> None:
    path = write(tmp_path, "subscribed_members_export_77.csv", NO_GROUPS)
    do_import(mapped, path, apply=True)

    grants = [e for e in _events(mapped) if e.action == "given"]
    assert grants
    assert all(e.notice_version == "unknown" for e in grants)
    plain = next(e for e in grants if e.source_ref and "subscribed_members_export_77.csv:2;" in e.source_ref)
    assert plain.source_ref == (
        f"{tmp_path}/subscribed_members_export_77.csv:2; Mailchimp export of list list123; "
        "export row LAST_CHANGED 2026-04-01 09:02:00"
    )
    reason = _reason(mapped, "plain@firma.no", "newsletter")
    assert "notice text not recorded; accepted by policy.legacy_consents = accept" in reason
    exported = export_subject(mapped, "plain@firma.no")
    assert {e["notice"] for e in exported["consent_events"] if e["action"] == "given"} == {
        "notice text not recorded"
    }


def test_legacy_consents_refused_or_accepted_until_a_date(mapped: AppContext, tmp_path: Path) -> None:
    do_import(mapped, write(tmp_path, "subscribed_members_export_77.csv", NO_GROUPS), apply=True)
    policy = mapped.settings.policy
    for rule, allowed in (
        ("refuse", False),
        ("accept-until 2027-01-01", True),
        ("accept-until 2026-06-01", False),
    ):
        changed = mapped.settings.model_copy(
            update={"policy": policy.model_validate({**policy.model_dump(), "legacy_consents": rule})}
        )
        ctx = AppContext(changed, mapped.engine, mapped.suppression_key, mapped.clock)
        decision = explain_contact(ctx, "plain@firma.no").entitlement.decision("newsletter", Channel.EMAIL)
        assert decision is not None
        assert decision.allowed is allowed, rule
        assert f"policy.legacy_consents = {rule}" in decision.reason
        if not allowed:
            assert decision.rule is Rule.P1_NO_BASIS
        if rule == "accept-until 2027-01-01":
            assert decision.valid_until is not None
            assert decision.valid_until.date().isoformat() == "2027-01-01"


def test_configured_mailchimp_form_notice_is_used(mapped: AppContext, tmp_path: Path) -> None:
    audience = mapped.settings.audiences[0].model_copy(update={"mailchimp_notice_version": "mc-form-2026-02"})
    ctx = AppContext(
        mapped.settings.model_copy(update={"audiences": (audience,)}),
        mapped.engine,
        mapped.suppression_key,
        mapped.clock,
    )
    do_import(ctx, write(tmp_path, "subscribed_members_export_77.csv", NO_GROUPS), apply=True)

    assert {e.notice_version for e in _events(ctx) if e.action == "given"} == {"mc-form-2026-02"}
    assert "(notice mc-form-2026-02)" in _reason(ctx, "plain@firma.no", "newsletter")


def test_unsubscribed_and_cleaned_exports_grant_nothing(mapped: AppContext, tmp_path: Path) -> None:
    unsubscribed = write(tmp_path, "unsubscribed_members_export_1.csv", UNSUBSCRIBED)
    cleaned = write(tmp_path, "cleaned_members_export_1.csv", CLEANED)

    plan = do_import(mapped, unsubscribed, cleaned, apply=True)

    assert plan.counts()["consents"] == 0
    assert not any(_allowed(mapped, "gone@firma.no").values())
    assert plan.counts()["suppressions"] == 1


def test_csv_row_without_a_purpose_column_never_grants_partner_offers(
    mapped: AppContext, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "crm.csv",
        "email,consent,given_at,method,notice_version\nkunde@firma.no,yes,2026-02-01,checkout,crm-v2\n",
    )

    plan = do_import(mapped, path, source="crm", apply=True)

    assert _allowed(mapped, "kunde@firma.no") == {"newsletter": True, "offers": True, "partner_offers": False}
    assert [(n.purpose, n.reason) for n in plan.not_covered] == [
        (
            "partner_offers",
            "granted only by an act naming this purpose (explicit_only); "
            "a row without a purpose column names none",
        )
    ]
    named = write(
        tmp_path,
        "crm2.csv",
        "email,consent,given_at,method,notice_version,purpose\nkunde@firma.no,yes,2026-02-02,checkout,crm-v2,partner_offers\n",
    )
    do_import(mapped, named, source="crm", apply=True)
    assert _allowed(mapped, "kunde@firma.no")["partner_offers"]


def test_legacy_csv_without_notice_column_uses_the_source_notice_or_unknown(
    mapped: AppContext, tmp_path: Path
) -> None:
    body = "email,consent,given_at,method,purpose\nold@firma.no,yes,2019-05-01,checkout,newsletter\n"
    do_import(mapped, write(tmp_path, "old.csv", body), source="legacy", apply=True)
    configured = mapped.settings.model_copy(
        update={"imports": mapped.settings.imports.model_copy(update={"notice_versions": {"crm": "crm-v1"}})}
    )
    ctx = AppContext(configured, mapped.engine, mapped.suppression_key, mapped.clock)
    body2 = "email,consent,given_at,method,purpose\nnew@firma.no,yes,2020-05-01,checkout,newsletter\n"
    do_import(ctx, write(tmp_path, "crm.csv", body2), source="crm", apply=True)

    notices = {e.source: e.notice_version for e in _events(ctx) if e.action == "given"}
    assert notices == {"import:legacy": "unknown", "import:crm": "crm-v1"}


def test_csv_form_sign_up_without_confirmation_is_an_unconfirmed_grant(
    mapped: AppContext, tmp_path: Path
) -> None:
    header = "email,consent,given_at,method,notice_version,purpose,confirmed_at\n"
    body = header + (
        "form@firma.no,yes,2026-02-01,form,web-v3,newsletter,\n"
        "done@firma.no,yes,2026-02-01,form,web-v3,newsletter,2026-02-01 10:05\n"
    )

    plan = do_import(mapped, write(tmp_path, "web.csv", body), source="web", apply=True)

    assert "awaits double opt-in confirmation" in _reason(mapped, "form@firma.no", "newsletter")
    assert _allowed(mapped, "done@firma.no")["newsletter"]
    assert [(str(a.where).rsplit("/", 1)[-1], a.why) for a in plan.awaiting_confirmation] == [
        ("web.csv:2", "method form")
    ]
