"""The command line as a user meets it: one unit of work per command, one-line errors, JSON output."""

import json
from pathlib import Path

from tests.cli_env import run


def test_sample_flow_explains_in_plain_words(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade")[0] == 0
    assert run(env, "contact", "add", "ola@example.no", "--first-name", "Ola", "--phone", "91234567")[0] == 0
    code, out, _ = run(
        env,
        "relationship",
        "add",
        "ola@example.no",
        "--kind",
        "purchase",
        "--started",
        "2026-09-01",
        "--service-date",
        "2026-11-14",
        "--reference",
        "8812",
        "--opt-out-offered",
        "--category",
        "travel",
    )
    assert code == 0, out
    code, out, err = run(
        env,
        "consent",
        "grant",
        "ola@example.no",
        "-p",
        "newsletter",
        "--notice-version",
        "v3",
        "--method",
        "checkout",
        "--at",
        "2026-09-01",
    )
    assert code == 0, err
    code, out, _ = run(env, "explain", "ola@example.no", "--at", "2026-12-01")
    assert code == 0
    assert "Offers by e-mail: allowed until 2027-02-12" in out
    assert "order 8812" in out
    assert "Newsletter by e-mail: allowed" in out
    code, out, _ = run(env, "explain", "ola@example.no", "--at", "2027-03-01", "--json")
    document = json.loads(out)
    offers = next(d for d in document["marketing"] if d["purpose"] == "offers" and d["channel"] == "email")
    assert offers["allowed"] is False
    assert offers["rule"] == "P1"


def test_bad_email_is_one_line_error_with_exit_code_two(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "consent", "grant", "not-an-address", "-p", "newsletter", "--notice-version", "v1"
    )
    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("error: email: not a valid e-mail address")


def test_pre_ticked_box_is_refused(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "consent", "grant", "a@b.no", "-p", "newsletter", "--notice-version", "v1", "--pre-ticked"
    )
    assert code == 2
    assert "pre-ticked" in err
    assert run(env, "explain", "a@b.no")[0] == 2


def test_bad_date_names_the_option(env: dict[str, str]) -> None:
    code, _, err = run(env, "explain", "a@b.no", "--at", "01.02.2026")
    assert code == 2
    assert "--at" in err


def test_object_withdraw_export_and_erase(env: dict[str, str]) -> None:
    run(
        env,
        "consent",
        "grant",
        "per@example.no",
        "-p",
        "newsletter",
        "--notice-version",
        "v1",
        "--method",
        "checkout",
    )
    assert run(env, "consent", "withdraw", "per@example.no", "-p", "newsletter")[0] == 0
    assert run(env, "object", "per@example.no", "--channel", "sms")[0] == 0
    _, out, _ = run(env, "subject", "export", "per@example.no")
    exported = json.loads(out)
    assert [e["action"] for e in exported["consent_events"]] == ["given", "withdrawn"]
    assert run(env, "subject", "erase", "per@example.no", "--yes")[0] == 0
    assert run(env, "subject", "export", "per@example.no")[0] == 2


def test_check_config_masks_secrets(env: dict[str, str]) -> None:
    env = env | {"CONSENT_SYNC_MAILCHIMP__API_KEY": "abc123-us6"}
    code, out, _ = run(env, "check-config")
    assert code == 0
    data = json.loads(out)
    assert data["mailchimp"]["api_key"] == "********"
    assert data["security"]["suppression_key"] == "********"
    assert "abc123" not in out


def test_check_config_masks_the_database_password(env: dict[str, str]) -> None:
    url = "postgresql+psycopg://consent:s3cr3t-pw@db.internal:5432/consents"
    code, out, _ = run(env | {"CONSENT_SYNC_DATABASE__URL": url}, "check-config")
    assert code == 0
    assert (
        json.loads(out)["database"]["url"]
        == "postgresql+psycopg://consent:********@db.internal:5432/consents"
    )
    assert "s3cr3t" not in out


def test_secret_in_config_file_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[mailchimp]\napi_key = "abc-us6"\n', encoding="utf-8")
    code, _, err = run(env, "--config", str(config), "check-config")
    assert code == 3
    assert "mailchimp.api_key is a secret" in err


def test_unknown_config_key_is_named(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[sync]\nmax_destructive_fraction = 2\n", encoding="utf-8")
    code, _, err = run(env, "--config", str(config), "check-config")
    assert code == 3
    assert "sync.max_destructive_fraction" in err


def test_example_configuration_loads(env: dict[str, str]) -> None:
    example = Path(__file__).parents[2] / "config" / "consent-sync.example.toml"
    code, out, err = run(env, "--config", str(example), "check-config")
    assert code == 0, err
    assert json.loads(out)["policy"]["follow_up"]["purchase"] == 90


def test_unmigrated_database_says_to_run_db_upgrade(env: dict[str, str], tmp_path: Path) -> None:
    fresh = env | {"CONSENT_SYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    code, _, err = run(fresh, "contact", "add", "a@firma.no")
    assert code == 3
    assert "run `consent-sync db upgrade`" in err


def test_unreachable_database_is_one_line(env: dict[str, str]) -> None:
    down = env | {"CONSENT_SYNC_DATABASE__URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    code, _, err = run(down, "explain", "a@firma.no")
    assert code == 3
    assert err.startswith("error: database.url: cannot open the database")
    assert err.strip().count("\n") == 0
