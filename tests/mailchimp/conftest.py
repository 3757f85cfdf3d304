"""Fixtures for the gateway tests: fast retry settings, a private connection cap, mocked HTTP.

Every response a test registers must be requested (`assert_all_requests_are_fired`): a stub the code
never calls would otherwise hide a request the test believes it checks.
"""

import hashlib
from collections.abc import Iterator

import pytest
import responses
from pydantic import SecretStr

from connector.mailchimp import ConnectionCap, MailchimpGateway
from connector.settings import MailchimpSettings

API_KEY = "0123456789abcdef-us6"
BASE = "https://us6.api.mailchimp.com/3.0"


def fast_settings(**overrides: object) -> MailchimpSettings:
    values: dict[str, object] = {
        "api_key": SecretStr(API_KEY),
        "timeout_seconds": 5.0,
        "max_attempts": 4,
        "backoff_initial_seconds": 0.001,
        "backoff_max_seconds": 0.01,
    }
    values.update(overrides)
    return MailchimpSettings.model_validate(values)


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def gateway() -> Iterator[MailchimpGateway]:
    with MailchimpGateway(fast_settings(), cap=ConnectionCap(8)) as built:
        yield built
