"""``doctor``'s Transactional checks, against the sandbox's Transactional API over HTTP."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.doctor.report import Verdict
from connector.doctor.transactional import check_transactional
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox
from connector.settings import Settings, load_settings

KEY = "transactional-key-1"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxKnobs(transactional_keys=(KEY,))) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh(sandbox: SandboxHandle) -> None:
    sandbox.runtime.reset()


def _settings(sandbox: SandboxHandle, key: str = KEY, **transactional: Any) -> Settings:
    values = {
        "api_key": SecretStr(key),
        "base_url": sandbox.transactional_base_url,
        "from_email": "service@example.no",
        **transactional,
    }
    return load_settings(None, transactional=values)


def _verdicts(settings: Settings) -> list[tuple[str, Verdict, str]]:
    return [(c.subject, c.verdict, c.message) for c in check_transactional(settings, 1)]


def _domain(sandbox: SandboxHandle, domain: str, valid: bool) -> None:
    answer = requests.post(
        f"{sandbox.root_url}/sandbox/transactional/domains",
        json={"domain": domain, "valid_signing": valid},
        timeout=5,
    )
    assert answer.status_code == 204


def test_not_configured_is_skipped() -> None:
    ((subject, verdict, message),) = _verdicts(load_settings(None))
    assert (subject, verdict) == ("transactional", Verdict.SKIP)
    assert message.startswith("not configured")


def test_a_verified_domain_and_an_accepted_key_are_ok(sandbox: SandboxHandle) -> None:
    _domain(sandbox, "example.no", True)
    assert [v for _, v, _ in _verdicts(_settings(sandbox))] == [Verdict.OK, Verdict.OK]


def test_an_unsigned_domain_fails_naming_what_is_missing(sandbox: SandboxHandle) -> None:
    _domain(sandbox, "example.no", False)
    found = _verdicts(_settings(sandbox))
    assert found[-1][:2] == ("transactional.sending_domain", Verdict.FAIL)
    assert "SPF and DKIM not valid" in found[-1][2]


def test_an_unknown_domain_fails(sandbox: SandboxHandle) -> None:
    found = _verdicts(_settings(sandbox))
    assert found[-1][:2] == ("transactional.sending_domain", Verdict.FAIL)
    assert "is not a sending domain" in found[-1][2]


def test_a_refused_key_fails(sandbox: SandboxHandle) -> None:
    found = _verdicts(_settings(sandbox, key="revoked"))
    assert found[0][:2] == ("transactional.api_key", Verdict.FAIL)
    assert "Invalid_Key" in found[0][2]


def test_a_missing_sender_fails(sandbox: SandboxHandle) -> None:
    found = _verdicts(_settings(sandbox, from_email=None))
    assert ("transactional.from_email", Verdict.FAIL) in [(s, v) for s, v, _ in found]
