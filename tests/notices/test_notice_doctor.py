"""``doctor``'s Transactional checks, against a stand-in gateway module (the real gateway and the
sandbox's Transactional API come with the ``transactional`` branch)."""

import sys
import types
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from connector.doctor.report import Verdict
from connector.doctor.transactional import check_transactional
from connector.errors import FatalMailchimpError
from connector.settings import Settings, load_settings


class _Gateway:
    domains: ClassVar[list[dict[str, Any]]] = []
    key_ok: ClassVar[bool] = True

    def __init__(self, api_key: str, base_url: str, **_options: Any) -> None:
        self.api_key = api_key

    def ping(self) -> str:
        if not self.key_ok:
            raise FatalMailchimpError("Invalid_Key", status=500)
        return "PONG!"

    def sending_domains(self) -> list[dict[str, Any]]:
        return self.domains

    def close(self) -> None:
        return None


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> type[_Gateway]:
    module = types.ModuleType("connector.mailchimp.transactional")
    module.TransactionalGateway = _Gateway  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "connector.mailchimp.transactional", module)
    _Gateway.domains, _Gateway.key_ok = [], True
    return _Gateway


def _settings(**transactional: Any) -> Settings:
    values = {"api_key": SecretStr("k"), "from_email": "service@example.no", **transactional}
    return load_settings(None, transactional=values)


def _verdicts(settings: Settings) -> list[tuple[str, Verdict, str]]:
    return [(c.subject, c.verdict, c.message) for c in check_transactional(settings, 1)]


def test_not_configured_is_skipped() -> None:
    ((subject, verdict, message),) = _verdicts(load_settings(None))
    assert (subject, verdict) == ("transactional", Verdict.SKIP)
    assert message.startswith("not configured")


def test_a_verified_domain_and_an_accepted_key_are_ok(gateway: type[_Gateway]) -> None:
    gateway.domains = [
        {"domain": "example.no", "spf": {"valid": True}, "dkim": {"valid": True}, "valid_signing": True}
    ]
    assert [v for _, v, _ in _verdicts(_settings())] == [Verdict.OK, Verdict.OK]


def test_an_unsigned_domain_fails_naming_what_is_missing(gateway: type[_Gateway]) -> None:
    gateway.domains = [{"domain": "example.no", "spf": {"valid": True}, "dkim": {"valid": False}}]
    found = _verdicts(_settings())
    assert found[-1][:2] == ("transactional.sending_domain", Verdict.FAIL)
    assert "DKIM not valid" in found[-1][2]


def test_a_refused_key_fails(gateway: type[_Gateway]) -> None:
    gateway.key_ok = False
    assert _verdicts(_settings())[0][:2] == ("transactional.api_key", Verdict.FAIL)
