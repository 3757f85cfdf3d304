"""``consent-sync repermission plan|send|status|expire`` as a user meets them, against the sandbox."""

import json

import requests

from connector.cli import app
from connector.sandbox.server import SandboxHandle
from tests.cli_env import run, runner

NOTICE = "--notice-version"


def _env(env: dict[str, str], sandbox: SandboxHandle) -> dict[str, str]:
    return {
        **env,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": sandbox.base_url,
        "CONSENT_SYNC_MAILCHIMP__BACKOFF_INITIAL_SECONDS": "0",
        "CONSENT_SYNC_REPERMISSION__CONFIRM_ABOVE": "1",
    }


def _ok(env: dict[str, str], *args: str) -> str:
    code, out, err = run(env, *args)
    assert code == 0, out + err
    return out


def test_plan_then_send_with_a_report_asking_nobody_twice(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    local = _env(env, sandbox)
    _ok(local, "db", "upgrade")
    for email in ("old1@example.no", "old2@example.no", "no@example.no"):
        _ok(local, "consent", "grant", email, "-p", "newsletter", NOTICE, "unknown", "--method", "import",
            "--at", "2024-01-10", "--recorded-by", "person")  # fmt: skip
    _ok(local, "object", "no@example.no")

    out = _ok(local, "repermission", "plan", "main", "--purpose", "newsletter", NOTICE, "rp-1", "--id", "c1")
    assert "2 to ask (2 legacy), 1 left out" in out
    assert "+ old1@example.no: consent of 2024-01-10: the notice text was not recorded (legacy)" in out
    assert "- no@example.no: objected to all marketing" in out

    send = ["repermission", "send", "main", "--purpose", "newsletter", NOTICE, "rp-1", "--id", "c1"]
    answered_no = runner.invoke(app, send, env=local, input="n\n")
    code, out = answered_no.exit_code, answered_no.stdout
    assert code == 1
    assert "nobody asked" in out
    assert "planned; nobody asked yet" in _ok(local, "repermission", "status", "c1")
    out = _ok(
        local,
        "repermission",
        "send",
        "main",
        "--purpose",
        "newsletter",
        NOTICE,
        "rp-1",
        "--id",
        "c1",
        "--yes",
    )
    assert "this run: 2 set pending (Mailchimp sends the confirmation e-mail)" in out
    outbox = requests.get(f"{sandbox.root_url}/_sandbox/outbox", timeout=10).json()["messages"]
    assert {"old1@example.no", "old2@example.no"} <= {m["to"] for m in outbox}
    assert "no@example.no" not in {m["to"] for m in outbox}

    again = json.loads(
        _ok(
            local,
            "repermission",
            "send",
            "main",
            "--purpose",
            "newsletter",
            NOTICE,
            "rp-1",
            "--id",
            "c1",
            "--yes",
            "--json",
        )
    )
    assert again["asked_now"] == 0
    assert again["totals"] == {"asked": 2}

    code, _out, err = run(
        local, "repermission", "plan", "main", "--purpose", "newsletter", NOTICE, "rp-2", "--id", "c1"
    )
    assert code != 0
    assert "other settings" in err

    status = _ok(local, "repermission", "status", "c1")
    assert "campaign c1 (main, newsletter): sent; 2 asked" in status
    assert "old1@example.no: asked until" in status
    assert "ended (not re-confirmed): 0" in _ok(local, "repermission", "expire")


def test_a_notice_version_is_required(env: dict[str, str], sandbox: SandboxHandle) -> None:
    local = _env(env, sandbox)
    _ok(local, "db", "upgrade")
    code, _out, err = run(local, "repermission", "plan", "main", "--purpose", "newsletter")
    assert code != 0
    assert "--notice-version" in err
    code, _out, err = run(local, "repermission", "plan", "main", "--purpose", "nope", NOTICE, "v1")
    assert code != 0
    assert "--purpose" in err
