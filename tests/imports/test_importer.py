"""The importer on SQLite and PostgreSQL: dry-run first, all or nothing, no opt-out ever undone."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from connector.core.model import Actor, Channel, ConsentAction, ConsentMethod, SuppressionReason
from connector.errors import InputError, NotFoundError
from connector.imports import store_state
from connector.imports.parsing.rows import RowKind
from connector.imports.plan import ImportPlan
from connector.imports.report import render_text
from connector.imports.service import ImportRequest, run_import
from connector.services.consents import Evidence, record_consent
from connector.services.contacts import ContactInput, require_contact, upsert_contact
from connector.services.context import AppContext, Origin
from connector.services.explain import explain_contact
from connector.services.subjects import erase_subject
from connector.services.suppressions import suppress
from connector.store.engine import unit_of_work
from connector.store.import_tables import ImportRecordRow
from connector.store.tables import (
    ConsentEventRow,
    ContactRow,
    HistoryRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
)

FIXTURES = Path(__file__).with_name("fixtures")
STAFF = Origin(actor="test", source="cli")
TABLES: Sequence[type[SQLModel]] = (
    ContactRow,
    ConsentEventRow,
    ObjectionRow,
    RelationshipRow,
    SuppressionRow,
    HistoryRow,
    ImportRecordRow,
)
CONSENT_HEADER = "E-post;Fornavn;Samtykke;Samtykke gitt;Metode;Tekstversjon;Formål\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def do_import(ctx: AppContext, *paths: Path, **options: object) -> ImportPlan:
    return run_import(ctx, ImportRequest(paths=list(paths), **options))  # type: ignore[arg-type]


def row_counts(ctx: AppContext) -> dict[str, int]:
    with unit_of_work(ctx.engine) as session:
        return {
            table.__tablename__: session.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[arg-type]
            for table in TABLES
        }


def marketing_allowed(ctx: AppContext, email: str) -> list[str]:
    entitlement = explain_contact(ctx, email).entitlement
    return [f"{d.purpose}/{d.channel.value}" for d in entitlement.marketing if d.allowed]


def grant(ctx: AppContext, email: str, at: datetime, purpose: str = "newsletter") -> None:
    evidence = Evidence(occurred_at=at, method=ConsentMethod.CHECKOUT, notice_version="v1")
    record_consent(ctx, email, [purpose], Channel.EMAIL, ConsentAction.GIVEN, evidence, STAFF)


def withdraw_via_mailchimp(ctx: AppContext, email: str, at: datetime) -> None:
    evidence = Evidence(occurred_at=at, method=ConsentMethod.MAILCHIMP, recorded_by=Actor.SYSTEM)
    record_consent(
        ctx,
        email,
        ["newsletter", "offers", "partner_offers"],
        Channel.EMAIL,
        ConsentAction.WITHDRAWN,
        evidence,
        STAFF,
    )


def consent_file(tmp_path: Path, rows: Sequence[str], name: str = "old-list.csv") -> Path:
    return write(tmp_path, name, CONSENT_HEADER + "".join(f"{row}\n" for row in rows))


# ---------------------------------------------------------------------------------------------------
# Opt-outs win


def test_reimported_old_list_never_makes_opted_out_or_erased_people_eligible(
    ctx: AppContext, tmp_path: Path
) -> None:
    grant(ctx, "kari@example.no", datetime(2025, 1, 1, tzinfo=UTC))
    withdraw_via_mailchimp(ctx, "kari@example.no", datetime(2026, 10, 2, tzinfo=UTC))
    grant(ctx, "per@example.no", datetime(2025, 1, 1, tzinfo=UTC))
    erase_subject(ctx, "per@example.no", STAFF)
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput(email="bo@example.no"), STAFF, ctx.now())
        suppress(session, "bo@example.no", ctx.suppression_key, SuppressionReason.CLEANED, STAFF, ctx.now())
    path = consent_file(
        tmp_path,
        [
            "  KARI@Example.no ;Kari;Ja;01.03.2026;skjema;v3;newsletter",
            "Per@EXAMPLE.no;Per;Ja;01.03.2026;skjema;v3;newsletter",
            " bo@example.NO;Bo;Ja;01.03.2026;kasse;v3;newsletter",
        ],
    )

    plan = do_import(ctx, path, source="crm", apply=True)

    reasons = {b.email: b.reason for b in plan.blocked}
    assert reasons == {
        "kari@example.no": "blocked: withdrew 2026-10-02 via Mailchimp unsubscribe link",
        "per@example.no": "blocked: address erased 2026-11-23; an import never brings an erased person back",
        "bo@example.no": "blocked: address suppressed (cleaned) since 2026-11-23",
    }
    assert marketing_allowed(ctx, "kari@example.no") == []
    assert marketing_allowed(ctx, "bo@example.no") == []
    with pytest.raises(NotFoundError):
        explain_contact(ctx, "per@example.no")
    assert plan.counts()["consents"] == 0


def test_mailchimp_export_of_old_subscribers_is_blocked_by_newer_unsubscribe(
    ctx: AppContext, tmp_path: Path
) -> None:
    grant(ctx, "sub.one@firma.no", datetime(2013, 6, 1, tzinfo=UTC))
    withdraw_via_mailchimp(ctx, "sub.one@firma.no", datetime(2026, 10, 2, tzinfo=UTC))
    path = write(
        tmp_path,
        "subscribed_members_export_1.csv",
        "Email Address,First Name,OPTIN_TIME,CONFIRM_TIME,LEID,EUID\n"
        "Sub.One@Firma.no ,Sub,2013-06-25 17:38:27,2013-06-25 17:40:01,101,a1\n",
    )

    plan = do_import(ctx, path, source="mailchimp-export", apply=True)

    assert [b.reason for b in plan.blocked] == ["blocked: withdrew 2026-10-02 via Mailchimp unsubscribe link"]
    assert marketing_allowed(ctx, "sub.one@firma.no") == []


def test_a_consent_newer_than_the_opt_out_is_recorded(ctx: AppContext, tmp_path: Path) -> None:
    withdraw_via_mailchimp(ctx, "kari@example.no", datetime(2026, 10, 2, tzinfo=UTC))
    path = consent_file(tmp_path, ["kari@example.no;Kari;Ja;01.11.2026;kasse;v3;newsletter"])

    plan = do_import(ctx, path, source="crm", apply=True)

    assert plan.blocked == ()
    assert marketing_allowed(ctx, "kari@example.no") == ["newsletter/email"]


# ---------------------------------------------------------------------------------------------------
# P6: consent needs evidence and a source


def test_consent_claims_without_source_are_not_consent(ctx: AppContext, tmp_path: Path) -> None:
    path = consent_file(tmp_path, ["ola@example.no;Ola;Ja;01.03.2026;kasse;v3;newsletter"])

    plan = do_import(ctx, path, apply=True)

    assert plan.counts()["consents"] == 0
    assert [i.reason.split(":")[0] for i in plan.ignored_consent] == [
        "consent evidence without --source naming who attests it"
    ]
    assert marketing_allowed(ctx, "ola@example.no") == []
    assert row_counts(ctx)["consent_events"] == 0


def test_consent_claims_with_source_become_consent(ctx: AppContext, tmp_path: Path) -> None:
    path = consent_file(tmp_path, ["ola@example.no;Ola;Ja;01.03.2026;kasse;v3;newsletter"])

    plan = do_import(ctx, path, source="crm", apply=True)

    assert plan.counts()["consents"] == 1
    assert marketing_allowed(ctx, "ola@example.no") == ["newsletter/email"]
    with unit_of_work(ctx.engine) as session:
        event = session.execute(select(ConsentEventRow)).scalar_one()
        assert (event.source, event.method, event.notice_version) == ("import:crm", "checkout", "v3")


MAILCHIMP_SUBSCRIBED = (
    "Email Address,First Name,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LEID,EUID\n"
    "ny@firma.no,Ny,2026-06-25 17:38:27,192.0.2.10,2026-06-25 17:40:01,192.0.2.11,101,a1\n"
)


def test_mailchimp_opt_ins_are_consent_only_with_source_or_trust(ctx: AppContext, tmp_path: Path) -> None:
    path = write(tmp_path, "subscribed_members_export_1.csv", MAILCHIMP_SUBSCRIBED)

    untrusted = do_import(ctx, path)
    trusted_ctx = replace(
        ctx,
        settings=ctx.settings.model_copy(
            update={"policy": ctx.settings.policy.model_copy(update={"trust_mailchimp_signup_forms": True})}
        ),
    )
    trusted = do_import(trusted_ctx, path)

    assert untrusted.counts()["consents"] == 0
    assert len(untrusted.ignored_consent) == 1
    assert [e.purpose for e in trusted.events if e.action.value == "given"] == ["newsletter"]
    assert trusted.counts()["confirmations"] == 1
    not_covered = {n.purpose: n.reason for n in trusted.not_covered}
    assert "explicit_only" in not_covered["partner_offers"]
    assert "mailchimp_signup_purposes (newsletter)" in not_covered["offers"]


def test_mailchimp_unsubscribed_and_cleaned_rows_become_opt_outs(ctx: AppContext, tmp_path: Path) -> None:
    grant(ctx, "ut@firma.no", datetime(2025, 1, 1, tzinfo=UTC))
    unsubscribed = write(
        tmp_path,
        "unsubscribed_members_export_1.csv",
        "Email Address,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON,LEID,EUID\n"
        "UT@firma.no,2026-10-02 08:00:00,Høstkampanje,No longer interested,1,a\n",
    )
    cleaned = write(
        tmp_path,
        "cleaned_members_export_1.csv",
        "Email Address,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,LEID,EUID\n"
        "borte@firma.no,2026-09-01 10:00:00,Vår,2,b\n",
    )

    plan = do_import(ctx, unsubscribed, cleaned, apply=True)

    assert plan.counts()["withdrawals"] == 3
    assert plan.counts()["suppressions"] == 1
    assert marketing_allowed(ctx, "ut@firma.no") == []
    sentences = explain_contact(ctx, "ut@firma.no").sentences
    assert "withdrawn 2026-10-02" in sentences[0]
    with unit_of_work(ctx.engine) as session:
        entry = session.execute(select(SuppressionRow)).scalar_one()
        assert (entry.reason, entry.created_at) == ("cleaned", datetime(2026, 9, 1, 10, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------------
# Dry-run, idempotence, all or nothing


def test_dry_run_writes_nothing(ctx: AppContext, tmp_path: Path) -> None:
    grant(ctx, "kari@example.no", datetime(2025, 1, 1, tzinfo=UTC))
    before = row_counts(ctx)
    path = consent_file(
        tmp_path,
        [
            "ola@example.no;Ola;Ja;01.03.2026;kasse;v3;newsletter",
            "kari@example.no;K;Ja;01.03.2026;kasse;v3;offers",
        ],
    )

    plan = do_import(ctx, path, source="crm")

    assert plan.counts()["contacts_new"] == 1
    assert plan.counts()["consents"] == 2
    assert row_counts(ctx) == before


def test_the_dry_run_shows_exactly_what_apply_does(ctx: AppContext, tmp_path: Path) -> None:
    path = FIXTURES / "mailchimp_export.zip"

    dry = do_import(ctx, path, source="mc")
    applied = do_import(ctx, path, source="mc", apply=True)

    assert dry.counts() == applied.counts()
    assert dry.blocked == applied.blocked
    assert dry.rejected == applied.rejected


def test_same_file_applied_twice_changes_nothing_the_second_time(ctx: AppContext, tmp_path: Path) -> None:
    path = FIXTURES / "mailchimp_export.zip"
    do_import(ctx, path, source="mc", apply=True)
    after_first = row_counts(ctx)

    again = do_import(ctx, path, source="mc", apply=True)

    assert [a.file for a in again.already_applied] == [str(path)]
    assert not again.changes_anything
    assert row_counts(ctx) == after_first


def test_a_copy_of_an_applied_file_changes_nothing_either(ctx: AppContext, tmp_path: Path) -> None:
    do_import(ctx, FIXTURES / "orders_no.csv", apply=True)
    do_import(ctx, FIXTURES / "consents_no.csv", source="crm", apply=True)
    after_first = row_counts(ctx)
    copies = [
        write(tmp_path, name, (FIXTURES / name).read_bytes().decode("cp1252") + "\n", "cp1252")
        for name in ("orders_no.csv",)
    ]
    copies.append(
        write(tmp_path, "consents_no.csv", (FIXTURES / "consents_no.csv").read_text("utf-8") + "\n")
    )

    again = do_import(ctx, *copies, source="crm", apply=True)

    counts = again.counts()
    assert counts["contacts_new"] == counts["contacts_updated"] == counts["consents"] == 0
    assert counts["relationships"] == counts["withdrawals"] == 0
    assert row_counts(ctx)["imports"] == after_first["imports"] + 2
    assert {k: v for k, v in row_counts(ctx).items() if k != "imports"} == {
        k: v for k, v in after_first.items() if k != "imports"
    }


def test_a_file_level_error_writes_nothing(ctx: AppContext, tmp_path: Path) -> None:
    good = consent_file(tmp_path, ["ola@example.no;Ola;Ja;01.03.2026;kasse;v3;newsletter"])
    before = row_counts(ctx)

    with pytest.raises(InputError, match=r"late_bad_byte\.csv:7002"):
        do_import(ctx, good, FIXTURES / "late_bad_byte.csv", source="crm", apply=True)

    assert row_counts(ctx) == before


def test_wrong_kind_is_a_file_level_error(ctx: AppContext) -> None:
    with pytest.raises(InputError, match="--kind relationships"):
        do_import(ctx, FIXTURES / "contacts_utf8_comma.csv", kind=RowKind.RELATIONSHIPS, apply=True)
    assert row_counts(ctx)["contacts"] == 0


# ---------------------------------------------------------------------------------------------------
# Merging and contact data


def test_duplicates_within_an_import_are_merged_and_reported(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dupes.csv",
        "E-post,Fornavn,Etternavn,Mobil\n"
        "Ola@Example.no,Ola,,\n"
        "kari@example.no,Kari,Berg,\n"
        " ola@example.NO ,,Nordmann,91234567\n",
    )

    plan = do_import(ctx, path, apply=True)

    assert [(d.key, [w.line for w in d.lines]) for d in plan.duplicates] == [("ola@example.no", [2, 4])]
    assert plan.counts()["contacts_new"] == 2
    assert plan.counts()["duplicates_merged"] == 1
    with unit_of_work(ctx.engine) as session:
        ola = require_contact(session, "ola@example.no")
        assert (ola.first_name, ola.last_name, ola.phone) == ("Ola", "Nordmann", "+4791234567")


def test_an_older_row_never_overwrites_newer_contact_data(ctx: AppContext, tmp_path: Path) -> None:
    with unit_of_work(ctx.engine) as session:
        upsert_contact(session, ctx, ContactInput(email="ny@firma.no", first_name="Nyere"), STAFF, ctx.now())
    old = write(tmp_path, "subscribed_members_export_1.csv", MAILCHIMP_SUBSCRIBED.replace("Ny,", "Gammel,"))
    undated = write(tmp_path, "contacts.csv", "E-post,Fornavn,Etternavn\nny@firma.no,Oppdatert,Hansen\n")

    do_import(ctx, old, apply=True)
    with unit_of_work(ctx.engine) as session:
        assert require_contact(session, "ny@firma.no").first_name == "Nyere"
    do_import(ctx, undated, apply=True)
    with unit_of_work(ctx.engine) as session:
        contact = require_contact(session, "ny@firma.no")
        assert (contact.first_name, contact.last_name) == ("Oppdatert", "Hansen")


def test_history_records_one_entry_per_changed_contact_with_the_file_hash(
    ctx: AppContext, tmp_path: Path
) -> None:
    path = consent_file(tmp_path, ["ola@example.no;Ola;Ja;01.03.2026;kasse;v3;newsletter,offers"])

    plan = do_import(ctx, path, source="crm", apply=True)

    with unit_of_work(ctx.engine) as session:
        entries = session.execute(select(HistoryRow)).scalars().all()
        assert [(h.actor, h.action) for h in entries] == [("import:crm", "import.applied")]
        assert entries[0].detail["files_sha256"] == [plan.files[0].sha256]
        assert entries[0].detail["consent_events"] == 2
        record = session.execute(select(ImportRecordRow)).scalar_one()
        assert (record.source, record.counts["consents"]) == ("crm", 2)


def test_relationship_files_feed_soft_opt_in(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        "E-post;Ordrenummer;Kjøpt;Levert;Kategorier;Beløp;Reservasjon tilbudt\n"
        "ola@example.no;8812;01.11.2026;20.11.2026;reise;12 990,00;Ja\n",
    )

    plan = do_import(ctx, path, apply=True)

    assert plan.counts()["relationships"] == 1
    assert "offers/email" in marketing_allowed(ctx, "ola@example.no")


def test_store_lookups_span_parameter_chunks_and_keys_json_must_escape(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys of a chunk travel as JSON arrays of ``IN_LIST`` values: split over several, and with
    customer ids holding quotes, backslashes, commas and braces, every stored person is still found."""
    monkeypatch.setattr(store_state, "IN_LIST", 2)
    odd_ids = ['k"1', "k\\2", "k,3", "{k4}", "kø5"]
    with unit_of_work(ctx.engine) as session:
        for number, customer in enumerate(odd_ids):
            data = ContactInput(email=f"odd{number}@example.no", external_id=customer, first_name="Å")
            upsert_contact(session, ctx, data, STAFF, ctx.now())
        suppress(
            session, "odd0@example.no", ctx.suppression_key, SuppressionReason.UNSUBSCRIBED, STAFF, ctx.now()
        )
    grant(ctx, "odd1@example.no", datetime(2025, 1, 1, tzinfo=UTC))
    withdraw_via_mailchimp(ctx, "odd1@example.no", datetime(2026, 10, 2, tzinfo=UTC))
    by_id = "".join(f'"{c.replace(chr(34), chr(34) * 2)}";Å\n' for c in odd_ids)
    by_address = "".join(f"odd{n}@example.no;Å;Ja;01.03.2026;skjema;v3;newsletter\n" for n in range(5))

    ids_plan = do_import(ctx, write(tmp_path, "ids.csv", "Kundenummer;Fornavn\n" + by_id))
    plan = do_import(ctx, consent_file(tmp_path, by_address.splitlines()), source="crm")

    assert ids_plan.counts()["contacts_unchanged"] == 5
    assert ids_plan.counts()["contacts_new"] == 0
    assert {b.email: b.reason for b in plan.blocked} == {
        "odd0@example.no": "blocked: address suppressed (unsubscribed) since 2026-11-23",
        "odd1@example.no": "blocked: withdrew 2026-10-02 via Mailchimp unsubscribe link",
    }
    assert plan.counts()["contacts_new"] == 0


def test_counts_are_worked_out_once_and_each_caller_gets_its_own_copy(
    ctx: AppContext, tmp_path: Path
) -> None:
    plan = do_import(ctx, write(tmp_path, "c.csv", "E-post;Fornavn\na@example.no;A\nb@example.no;B\n"))

    first = plan.counts()
    first["contacts_new"] = 99

    assert plan.counts()["contacts_new"] == 2
    assert plan.counts() is not plan.counts()
    assert replace(plan, contacts=plan.contacts[:1]).counts()["contacts_new"] == 1
    counted = replace(plan, contacts=())
    counted.counts()
    assert counted == replace(plan, contacts=())  # the worked-out counts are not part of the value


ERASED = SuppressionReason.ERASED


@pytest.mark.parametrize("held", [0, 1, 100])
def test_a_contacts_import_finds_the_same_suppressions_whether_the_list_is_held_or_asked_per_chunk(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    """Up to ``SUPPRESSIONS_HELD`` entries the importer reads every suppressed hash once and asks only
    for those; above it, every address's hash per chunk: the same plan and the same report either way."""
    with unit_of_work(ctx.engine) as session:
        for number in range(3):
            upsert_contact(session, ctx, ContactInput(email=f"p{number}@example.no"), STAFF, ctx.now())
        for email, reason in (("p0@example.no", SuppressionReason.CLEANED), ("x@example.no", ERASED)):
            suppress(session, email, ctx.suppression_key, reason, STAFF, ctx.now())
    text = "E-post;Fornavn\n" + "".join(f"p{n}@example.no;P{n}\n" for n in range(3)) + "x@example.no;X\n"
    path = write(tmp_path, "c.csv", text)
    expected = do_import(ctx, path)

    monkeypatch.setattr(store_state, "SUPPRESSIONS_HELD", held)
    plan = do_import(ctx, path)

    assert plan == expected
    assert render_text(plan, False) == render_text(expected, False)
    assert [b.email for b in plan.blocked] == ["x@example.no"]  # erased: never brought back
    assert plan.counts()["contacts_updated"] == 3
