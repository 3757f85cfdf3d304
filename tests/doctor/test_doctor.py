"""``consent-sync doctor`` against the sandbox over HTTP: one line per check, exit 1 when one fails."""

import json
import socket
from pathlib import Path

from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import WebhookEvent, WebhookSource
from connector.sandbox.server import SandboxHandle
from connector.store.migrate import head_revision, upgrade
from tests.cli_env import run
from tests.doctor.conftest import GOOD_KEY, WEBHOOK_SECRET, doctor_env


def _set_up(env: dict[str, str]) -> None:
    """What an operator does: a first sync (merge fields, tags, segments), then the webhook."""
    code, _, err = run(env, "sync")
    assert code == 0, err
    url = f"{env['CONSENT_SYNC_CONSENT_CAPTURE__PUBLIC_BASE_URL']}/webhooks/mailchimp/{WEBHOOK_SECRET}"
    code, _, err = run(env, "webhooks", "register", "--audience", "main", "--url", url)
    assert code == 0, err


def _verdicts(out: str) -> dict[str, tuple[str, str]]:
    return {c["subject"]: (c["verdict"], c["message"]) for c in json.loads(out)["checks"]}


def test_a_good_key_and_list_pass_every_check(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    _set_up(settings)
    code, out, err = run(settings, "doctor")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1] == "all checks passed"
    assert not [line for line in lines[:-1] if not line.startswith(("[  ok]", "[skip]"))], out
    assert f"[  ok] audiences.main.list_id: {list_id} is 'Nyhetsbrev'" in out
    assert "[  ok] mailchimp.api_key: valid for account 'consent-sync sandbox'" in out
    assert "data centre us1" in out
    assert "[skip] transactional: not configured" in out
    code, out, _ = run(settings, "doctor", "--json")
    found = _verdicts(out)
    assert code == 0
    assert json.loads(out)["ok"] is True
    for subject in ("database", "merge_fields", "segments", "webhook"):
        name = subject if subject == "database" else f"audiences.main.{subject}"
        assert found[name][0] == "ok", found[name]


def test_a_revoked_key_is_a_failing_line_in_plain_words(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url, key="fedcba9876543210-us1")
    code, out, _ = run(settings, "doctor")
    assert code == 1
    assert (
        "[fail] mailchimp.api_key: Mailchimp at " + sandbox.base_url + " refused the key ending in '-us1' "
        "(401 API Key Invalid): the key is wrong or revoked"
    ) in out
    assert "audiences.main" not in out  # nothing else can be asked with a refused key
    assert out.splitlines()[-1] == "1 check(s) failed"


def test_a_key_for_another_data_centre_says_so(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url, key=GOOD_KEY.replace("-us1", "-us6"))
    code, out, _ = run(settings, "doctor", "--json")
    assert code == 1
    verdict, message = _verdicts(out)["mailchimp.api_key"]
    assert verdict == "fail"
    assert "refused the key ending in '-us6' (401 API Key Invalid)" in message
    assert "the account is not in data centre us6" in message


def test_a_base_url_of_another_data_centre_than_the_key_fails_before_any_call(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url, key="0123456789abcdef-us6")
    settings["CONSENT_SYNC_MAILCHIMP__BASE_URL"] = "https://us19.api.mailchimp.com/3.0"
    code, out, _ = run(settings, "doctor")
    assert code == 1
    assert (
        "[fail] mailchimp.base_url: points at data centre us19, but the API key ends in '-us6': "
        "use https://us6.api.mailchimp.com/3.0"
    ) in out


def test_an_unknown_list_id_names_the_audience_and_the_account(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    """Found on an empty store too, where a sync would have nothing to send."""
    settings = doctor_env(env, sandbox, "0000000000", public_base_url)
    code, out, _ = run(settings, "doctor")
    assert code == 1
    assert (
        "[fail] audiences.main.list_id: account 'consent-sync sandbox' has no audience '0000000000': "
        "copy the id from Mailchimp"
    ) in out
    assert "[  ok] mailchimp.api_key" in out


def test_a_missing_webhook_says_how_to_register_it_without_showing_the_secret(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    assert run(settings, "sync")[0] == 0
    code, out, _ = run(settings, "doctor")
    assert code == 1
    expected = f"{public_base_url}/webhooks/mailchimp/<webhooks.secret>"
    assert f"[fail] audiences.main.webhook: none registered at {expected}: run `consent-sync webhooks " in out
    assert WEBHOOK_SECRET not in out
    assert "[  ok] audiences.main.segments" in out


def test_a_webhook_with_the_api_source_on_fails(
    env: dict[str, str],
    sandbox: SandboxHandle,
    gateway: MailchimpGateway,
    list_id: str,
    public_base_url: str,
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    assert run(settings, "sync")[0] == 0
    url = f"{public_base_url}/webhooks/mailchimp/{WEBHOOK_SECRET}"
    gateway.create_webhook(list_id, url, tuple(WebhookEvent), tuple(WebhookSource))
    code, out, _ = run(settings, "doctor", "--json")
    assert code == 1
    verdict, message = _verdicts(out)["audiences.main.webhook"]
    assert verdict == "fail"
    assert message.startswith("sources.api is on (our own writes echo back as webhooks)")


def test_segments_deleted_in_mailchimp_fail_and_a_new_list_is_only_not_set_up_yet(
    env: dict[str, str],
    sandbox: SandboxHandle,
    gateway: MailchimpGateway,
    list_id: str,
    public_base_url: str,
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    found = _verdicts(run(settings, "doctor", "--json")[1])
    assert found["audiences.main.segments"][0] == "skip"
    assert found["audiences.main.segments"][1].startswith("not set up yet: the first sync creates tag cs:")
    _set_up(settings)
    runtime = sandbox.app.state.runtime
    with runtime.state.lock:  # someone deletes one saved segment in Mailchimp's web app
        segments = runtime.state.data.audiences[list_id].segments
        doomed = next(k for k, s in segments.items() if s.name == "Marketing: offers")
        del segments[doomed]
    verdict, message = _verdicts(run(settings, "doctor", "--json")[1])["audiences.main.segments"]
    assert verdict == "fail"
    assert message.startswith("missing in Mailchimp: saved segment 'Marketing: offers'")


def test_an_uninitialised_database_fails_and_is_not_created(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str, tmp_path: Path
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    fresh = tmp_path / "fresh.db"
    settings["CONSENT_SYNC_DATABASE__URL"] = f"sqlite:///{fresh}"
    code, out, _ = run(settings, "doctor")
    assert code == 1
    assert f"[fail] database: not initialised (no file {fresh}): run `consent-sync db upgrade`" in out
    assert not fresh.exists()
    assert "[  ok] mailchimp.api_key" in out  # the other checks still run


def test_a_database_behind_the_code_names_both_revisions(
    env: dict[str, str], sandbox: SandboxHandle, list_id: str, public_base_url: str, tmp_path: Path
) -> None:
    settings = doctor_env(env, sandbox, list_id, public_base_url)
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(behind, "0001")
    settings["CONSENT_SYNC_DATABASE__URL"] = behind
    code, out, _ = run(settings, "doctor")
    assert code == 1
    head = head_revision(behind)
    assert f"[fail] database: at revision 0001, the code needs {head}: run `consent-sync db upgrade`" in out


def test_an_unreachable_mailchimp_and_a_key_without_suffix_are_failing_lines(env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/3.0"
    settings = {
        **env,
        "CONSENT_SYNC_MAILCHIMP__BASE_URL": closed,
        "CONSENT_SYNC_MAILCHIMP__API_KEY": GOOD_KEY,
        "CONSENT_SYNC_MAILCHIMP__BACKOFF_INITIAL_SECONDS": "0",
    }
    code, out, _ = run(settings, "doctor")
    assert code == 1
    assert f"[fail] mailchimp.api_key: cannot reach Mailchimp at {closed}: GET /ping → ConnectionError" in out
    code, out, _ = run({**env, "CONSENT_SYNC_MAILCHIMP__API_KEY": "0123456789abcdef"}, "doctor")
    assert code == 1
    assert "[fail] mailchimp.api_key: does not end in a data-centre suffix such as '-us6'" in out


def test_an_unreachable_database_is_a_failing_line(env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = {**env, "CONSENT_SYNC_DATABASE__URL": f"postgres://shop:hunter2@127.0.0.1:{closed}/shop"}
    code, out, _ = run(settings, "doctor")
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("[fail] database:")]
    assert line.startswith("[fail] database: cannot open database.url (")
    assert line.endswith("); check the address and that it runs")
    assert "hunter2" not in out
