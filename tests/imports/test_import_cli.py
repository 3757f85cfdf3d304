"""``consent-sync import`` as a user meets it: dry-run report, --apply, --json, one-line file errors."""

import json
from pathlib import Path

from tests.cli_env import run

FIXTURES = Path(__file__).with_name("fixtures")


def test_dry_run_then_apply_then_already_applied(env: dict[str, str]) -> None:
    path = str(FIXTURES / "mailchimp_export.zip")

    code, dry, _ = run(env, "import", path, "--source", "mailchimp-export")
    assert code == 0
    assert dry.startswith("Dry-run: nothing was written.")
    assert "encoding utf-8 (confidence 1.00), delimiter comma, kind mailchimp-export" in dry
    assert "  withdrawals recorded: 6" in dry

    code, applied, _ = run(env, "import", path, "--source", "mailchimp-export", "--apply")
    assert code == 0
    assert applied.startswith("Applied:")
    assert applied.split("Counts:")[1] == dry.split("Counts:")[1]

    code, again, _ = run(env, "import", path, "--source", "mailchimp-export", "--apply")
    assert code == 0
    assert again.startswith("Already applied: every file was imported before; nothing changed.")


def test_json_report_lists_rejected_rows_with_file_line_column(env: dict[str, str]) -> None:
    code, out, _ = run(env, "import", str(FIXTURES / "excel_damage_cp1252.csv"), "--json")

    assert code == 0
    report = json.loads(out)
    assert report["files"][0]["csv"][0]["encoding"] == "cp1252"
    assert report["files"][0]["csv"][0]["delimiter"] == ";"
    assert [r["where"].rsplit("/", 1)[1] for r in report["rejected"]] == [
        "excel_damage_cp1252.csv:3:Mobil",
        "excel_damage_cp1252.csv:6:Kjøpsdato",
    ]


def test_map_option_names_the_address_column(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Kontakt,Navn\nola@example.no,Ola\n", encoding="utf-8")

    code, out, _ = run(
        env, "import", str(path), "--map", "Kontakt=email", "--map", "Navn=first_name", "--json"
    )

    assert code == 0, out
    assert json.loads(out)["counts"]["contacts_new"] == 1


def test_a_file_level_error_is_one_line_and_exit_code_2(env: dict[str, str]) -> None:
    code, out, err = run(env, "import", str(FIXTURES / "late_bad_byte.csv"), "--apply")

    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "late_bad_byte.csv:7002: byte offset" in err
