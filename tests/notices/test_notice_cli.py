"""``consent-sync notice plan|send|status`` and ``relationship add --item`` as a user meets them."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from connector.cli import app
from connector.services import notice_sending
from tests.cli_env import run, runner
from tests.notices.fakes import FakeTransactional

START = "2026-11-01"


def _holder(env: dict[str, str], email: str, item: str, ref: str) -> None:
    args = ["relationship", "add", email, "--kind", "purchase", "--started", START, "--reference", ref]
    code, out, err = run(env, *args, "--item", item, "--service-date", "2099-01-10")
    assert code == 0, out + err


@pytest.fixture
def notice_env(env: dict[str, str]) -> dict[str, str]:
    assert run(env, "db", "upgrade")[0] == 0
    _holder(env, "kari@example.no", "CONCERT-99", "T-1")
    _holder(env, "ola@example.no", "CONCERT-99", "T-2")
    _holder(env, "per@example.no", "THEATRE-1", "T-3")
    assert run(env, "object", "kari@example.no")[0] == 0
    return {
        **env,
        "CONSENT_SYNC_TRANSACTIONAL__API_KEY": "test-key",
        "CONSENT_SYNC_TRANSACTIONAL__FROM_EMAIL": "service@example.no",
        "CONSENT_SYNC_TRANSACTIONAL__CONFIRM_ABOVE": "1",
    }


@pytest.fixture
def fake_sender(monkeypatch: pytest.MonkeyPatch) -> FakeTransactional:
    sender = FakeTransactional(max_recipients_per_call=10)

    @contextmanager
    def opened(_settings: Any) -> Iterator[tuple[FakeTransactional, None]]:
        yield sender, None

    monkeypatch.setattr(notice_sending, "open_notice_sender", opened)
    return sender


def _plan(env: dict[str, str], tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    body = tmp_path / "body.txt"
    body.write_text("Dear *|FNAME|*, *|ITEM|* is cancelled. Your money is refunded.", encoding="utf-8")
    return run(
        env, "notice", "plan", "c99-off", "--kind", "cancellation", "--item", "CONCERT-99",
        "--subject", "Cancelled: *|ITEM|*", "--text", str(body), *extra,
    )  # fmt: skip


def test_plan_lists_recipients_with_route_and_who_is_left_out(
    notice_env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = _plan(notice_env, tmp_path, "--json")

    assert code == 0, out + err
    plan = json.loads(out)
    assert sorted(r["email"] for r in plan["recipients"]) == ["kari@example.no", "ola@example.no"]
    assert {r["route"] for r in plan["recipients"]} == {"transactional"}
    assert plan["calls"] == {"transactional": 1}
    assert plan["kind"] == "cancellation"


def test_marketing_kinds_are_refused(notice_env: dict[str, str], tmp_path: Path) -> None:
    code, _out, err = run(
        notice_env, "notice", "plan", "x", "--kind", "newsletter", "--item", "A", "--template", "t"
    )
    assert code == 2
    assert "--kind" in err
    assert "never marketing" in err


def test_send_asks_above_the_threshold_then_sends_once_and_status_shows_each(
    notice_env: dict[str, str], tmp_path: Path, fake_sender: FakeTransactional
) -> None:
    assert _plan(notice_env, tmp_path)[0] == 0
    answered_no = runner.invoke(app, ["notice", "send", "c99-off"], env=notice_env, input="n\n")
    assert answered_no.exit_code == 1
    assert "nothing sent" in answered_no.stdout
    assert fake_sender.calls == 0

    code, out, err = run(notice_env, "notice", "send", "c99-off", "--yes")
    assert code == 0, out + err
    assert "kind cancellation, sent" in out
    assert "2 recipients in 1 calls" in out
    code, out, _ = run(notice_env, "notice", "send", "c99-off", "--yes")
    assert "0 recipients in 0 calls" in out
    assert sorted(fake_sender.delivered()) == ["kari@example.no", "ola@example.no"]

    code, out, _ = run(notice_env, "notice", "status", "c99-off", "--json")
    status = json.loads(out)
    assert status["totals"] == {"delivered": 2}
    assert {r["status"] for r in status["recipients"]} == {"delivered"}


def test_status_of_an_unknown_notice_is_one_line(notice_env: dict[str, str]) -> None:
    code, _out, err = run(notice_env, "notice", "status", "nope")
    assert code == 2
    assert err.strip() == "error: ID: no notice 'nope'"


def test_a_target_file_of_references_and_addresses(notice_env: dict[str, str], tmp_path: Path) -> None:
    listed = tmp_path / "who.csv"
    listed.write_text("reference\nT-3\nkari@example.no\nT-404\n", encoding="utf-8")
    code, out, err = run(
        notice_env, "notice", "plan", "mixed", "--kind", "change", "--file", str(listed),
        "--template", "change-notice", "--json",
    )  # fmt: skip
    assert code == 0, out + err
    plan = json.loads(out)
    assert sorted(r["email"] for r in plan["recipients"]) == ["kari@example.no", "per@example.no"]
    assert [e["why"] for e in plan["left_out"]] == ["no contact holds reference 'T-404'"]


def test_a_bad_address_in_the_target_file_names_file_and_line(
    notice_env: dict[str, str], tmp_path: Path
) -> None:
    listed = tmp_path / "who.txt"
    listed.write_text("T-1\nnot@an@address\n", encoding="utf-8")
    code, _out, err = run(
        notice_env, "notice", "plan", "bad", "--kind", "change", "--file", str(listed), "--template", "t"
    )
    assert code == 2
    assert f"{listed}:2" in err


def test_explain_says_by_which_route_a_notice_reaches_the_person_today(notice_env: dict[str, str]) -> None:
    code, out, _ = run(notice_env, "explain", "kari@example.no")
    assert code == 0
    assert "Transactional route today: via Mailchimp Transactional; not a member of audience 'main'" in out

    without_key = {k: v for k, v in notice_env.items() if k != "CONSENT_SYNC_TRANSACTIONAL__API_KEY"}
    code, out, _ = run(without_key, "explain", "kari@example.no", "--json")
    route = json.loads(out)["transactional"]["route"]
    assert route == (
        "no route: not a member of audience 'main'; "
        "Mailchimp Transactional is not configured (transactional.api_key)"
    )
