"""Every request and response body the official-client suite exchanges with the sandbox has the shape
Mailchimp's OpenAPI spec gives it."""

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from connector.sandbox.server import SandboxHandle

from . import test_official_client
from .conftest import AUDIENCE_BODY, Receiver, official_client
from .contract import SpecChecker, exchanges, load_checker, spec_path

SUITE: list[Callable[..., None]] = [
    function
    for name, function in inspect.getmembers(test_official_client, inspect.isfunction)
    if name.startswith("test_")
]


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    return load_checker()


def test_paths_map_to_the_specs_camel_cased_templates() -> None:
    assert (
        spec_path("/3.0/lists/{list_id}/members/{subscriber_hash}")
        == "/lists/{listId}/members/{subscriberHash}"
    )
    assert spec_path("/3.0/lists/{list_id}/segments/{segment_id}") == "/lists/{listId}/segments/{segmentId}"


def test_the_checker_catches_a_wrong_shape(checker: SpecChecker) -> None:
    from .contract import Exchange

    bad = Exchange("GET", "/3.0/lists/{list_id}/members/{subscriber_hash}", 200, "", '{"status": "gone"}')
    assert checker.violations(bad)
    missing = Exchange("GET", "/3.0/lists/{list_id}/nothing", 200, "", "{}")
    assert checker.violations(missing)


@pytest.mark.parametrize("case", SUITE, ids=lambda f: f.__name__)
def test_exchanges_of_the_client_suite_match_the_spec(
    case: Callable[..., None], checker: SpecChecker, sandbox: SandboxHandle, receiver: Receiver
) -> None:
    client = official_client(sandbox)
    available: dict[str, Any] = {"client": client, "sandbox": sandbox, "receiver": receiver}
    wanted = inspect.signature(case).parameters
    if "list_id" in wanted:
        available["list_id"] = str(client.lists.create_list(AUDIENCE_BODY)["id"])
    case(**{name: available[name] for name in wanted})
    calls = exchanges(sandbox.runtime.observations.requests())
    assert calls
    violations = [v for call in calls for v in checker.violations(call)]
    assert violations == []
