"""Building the gateway: base URL, the API key, the shared connection cap, the pooled session."""

import pytest
from pydantic import SecretStr

from connector.errors import ConfigError
from connector.mailchimp import ConnectionCap, MailchimpGateway, api_base_url
from connector.mailchimp.connections import shared_cap
from connector.settings import MailchimpSettings

from .conftest import API_KEY, fast_settings


def test_base_url_comes_from_the_data_centre_suffix_of_the_key() -> None:
    assert api_base_url(fast_settings()) == "https://us6.api.mailchimp.com/3.0"


def test_base_url_override_points_at_the_sandbox() -> None:
    settings = fast_settings(base_url="http://127.0.0.1:8800/3.0/")
    assert api_base_url(settings) == "http://127.0.0.1:8800/3.0"


def test_missing_key_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mailchimp\.api_key"):
        MailchimpGateway(MailchimpSettings(base_url="http://127.0.0.1:8800/3.0"), cap=ConnectionCap(1))


def test_key_without_data_centre_is_a_config_error_that_does_not_echo_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mailchimp\.api_key") as caught:
        api_base_url(fast_settings(api_key=SecretStr("secretwithoutsuffix")))
    assert "secretwithoutsuffix" not in str(caught.value)


def test_pool_is_sized_to_the_cap_and_blocks_instead_of_growing() -> None:
    gateway = MailchimpGateway(fast_settings(), cap=ConnectionCap(3))
    adapter = gateway._transport.session.get_adapter("https://us6.api.mailchimp.com/3.0/ping")
    assert adapter._pool_maxsize == 3  # type: ignore[attr-defined]
    assert adapter._pool_block is True  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]


def test_gateways_for_one_key_share_the_process_wide_cap() -> None:
    key = "sharedcapkey-us9"
    settings = fast_settings(api_key=SecretStr(key), max_connections=5)
    first, second = MailchimpGateway(settings), MailchimpGateway(settings)
    assert first.cap is second.cap is shared_cap(key, 5)
    assert first.cap.limit == 5


def test_a_conflicting_limit_for_the_same_key_is_refused() -> None:
    shared_cap("conflictkey-us9", 4)
    with pytest.raises(ConfigError, match=r"mailchimp\.max_connections"):
        shared_cap("conflictkey-us9", 6)


def test_cap_never_exceeds_mailchimps_ten() -> None:
    with pytest.raises(ConfigError, match=r"mailchimp\.max_connections"):
        ConnectionCap(11)


def test_the_key_is_not_in_the_reprs_of_the_gateway_or_its_transport() -> None:
    gateway = MailchimpGateway(fast_settings(), cap=ConnectionCap(1))
    assert API_KEY not in repr(vars(gateway))
    assert API_KEY not in repr(vars(gateway._transport))
