"""The README's first command: the demo tells the whole story on a fresh directory, with no network."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app


def test_demo_runs_the_whole_story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo"], env={"CONSENT_SYNC_CONFIG": ""})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Offers by e-mail: allowed until" in out
    assert "the store recorded it: newsletter allowed = False" in out
    assert "Kari's tags in Mailchimp now: cs:transactional\n" in out
    assert "found 0 opt-outs the webhooks had missed" in out
    assert (
        "still reachable for transactional notices" not in out
    )  # no campaign reaches an unsubscribed member
    kari = "+ kari.nordmann@example.no: order TICKET-310 for CONCERT-OSLO-JAZZ"
    assert kari in out
    assert "via Mailchimp Transactional; unsubscribed from marketing in audience 'main'" in out
    assert "Sent (cancellation, never marketing): 2 recipients in 1 call; notice sent." in out
    assert "The sandbox's Transactional outbox, to Kari: \"Cancelled: CONCERT-OSLO-JAZZ on " in out
    assert "Kari is in 0 of the 3 marketing segments." in out
    assert "@" not in result.stderr
