"""The connection limit, injected faults (reproducible by seed), latency, and the observability endpoints."""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.server import SandboxHandle, running_sandbox

from .conftest import AUDIENCE_BODY

AUTH = ("user", "anything-us1")


def ping(sandbox: SandboxHandle, session: requests.Session | None = None) -> int:
    getter = session.get if session else requests.get
    return getter(f"{sandbox.base_url}/ping", auth=AUTH, timeout=10).status_code


def test_the_eleventh_concurrent_request_gets_429() -> None:
    with running_sandbox(SandboxKnobs(latency_ms=400)) as sandbox, ThreadPoolExecutor(11) as pool:
        responses = list(
            pool.map(lambda _: requests.get(f"{sandbox.base_url}/ping", auth=AUTH, timeout=10), range(11))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 10
        assert statuses.count(429) == 1
        rejected = next(r for r in responses if r.status_code == 429)
        assert rejected.headers["content-type"].startswith("application/problem+json")
        assert rejected.json()["title"] == "Too Many Requests"
        stats = requests.get(f"{sandbox.root_url}/_sandbox/stats", timeout=5).json()
        assert stats["peak_concurrency"] == 11
        assert stats["rejected_over_limit"] == 1
        assert stats["endpoints"]["GET /3.0/ping"] == {"200": 10, "429": 1}


def test_sequential_calls_never_hit_the_limit() -> None:
    with running_sandbox(SandboxKnobs(max_connections=1)) as sandbox, requests.Session() as session:
        assert {ping(sandbox, session) for _ in range(20)} == {200}


def fault_sequence(seed: int, calls: int = 60) -> list[str]:
    knobs = SandboxKnobs(
        seed=seed, fault_rate_429=0.15, fault_rate_403=0.15, fault_rate_5xx=0.15, fault_rate_drop=0.1
    )
    outcomes = []
    with running_sandbox(knobs) as sandbox:
        for _ in range(calls):
            try:
                response = requests.get(f"{sandbox.base_url}/ping", auth=AUTH, timeout=10)
            except requests.ConnectionError:
                outcomes.append("dropped")
                continue
            outcomes.append(f"{response.status_code}:{len(response.content)}")
        stats = sandbox.stats()
    assert stats["faults"].get("drop", 0) == outcomes.count("dropped")
    return outcomes


def test_faults_are_reproducible_by_seed() -> None:
    first, again, other = fault_sequence(7), fault_sequence(7), fault_sequence(8)
    assert first == again
    assert first != other
    kinds = {outcome.split(":")[0] for outcome in first}
    assert {"200", "429", "403", "500", "dropped"} <= kinds
    assert "403:0" in first  # a 403 without a body, as Mailchimp's edge sends


def test_injected_429_and_500_are_problem_documents() -> None:
    with running_sandbox(SandboxKnobs(seed=3, fault_rate_429=0.5, fault_rate_5xx=0.5)) as sandbox:
        for _ in range(6):
            response = requests.get(f"{sandbox.base_url}/ping", auth=AUTH, timeout=10)
            assert response.status_code in (429, 500)
            assert {"type", "title", "status", "detail", "instance"} <= response.json().keys()


def test_slow_fault_delays_the_answer() -> None:
    with running_sandbox(SandboxKnobs(seed=1, fault_rate_slow=1.0, slow_ms=300)) as sandbox:
        response = requests.get(f"{sandbox.base_url}/ping", auth=AUTH, timeout=10)
        assert response.status_code == 200
        assert response.elapsed.total_seconds() >= 0.29
        with pytest.raises(requests.Timeout):
            requests.get(f"{sandbox.base_url}/ping", auth=AUTH, timeout=0.1)


def test_seed_is_reported_and_random_when_not_given() -> None:
    with running_sandbox(SandboxKnobs(seed=1234)) as sandbox:
        assert requests.get(f"{sandbox.root_url}/_sandbox/stats", timeout=5).json()["seed"] == 1234
    with running_sandbox() as sandbox:
        assert isinstance(sandbox.seed, int)


def test_request_log_and_reset(sandbox: SandboxHandle, client: Any) -> None:
    client.lists.create_list(AUDIENCE_BODY)
    log = requests.get(f"{sandbox.root_url}/_sandbox/requests", timeout=5).json()["requests"]
    assert [r["endpoint"] for r in log] == ["POST /3.0/lists"]
    assert log[0]["status"] == 200
    assert requests.post(f"{sandbox.root_url}/_sandbox/reset", timeout=5).status_code == 204
    assert client.lists.get_all_lists()["total_items"] == 0
    stats = requests.get(f"{sandbox.root_url}/_sandbox/stats", timeout=5).json()
    assert "POST /3.0/lists" not in stats["endpoints"]
    assert stats["endpoints"]["GET /3.0/lists"] == {"200": 1}


def test_per_member_latency_applies_to_batch_calls() -> None:
    with running_sandbox(SandboxKnobs(latency_per_member_ms=2)) as sandbox:
        body = {
            "members": [{"email_address": f"p{i}@konsert.no", "status": "subscribed"} for i in range(100)]
        }
        audience = requests.post(
            f"{sandbox.base_url}/lists",
            auth=AUTH,
            json=AUDIENCE_BODY,
            timeout=5,
        ).json()
        response = requests.post(
            f"{sandbox.base_url}/lists/{audience['id']}", auth=AUTH, json=body, timeout=10
        )
        assert response.json()["total_created"] == 100
        assert response.elapsed.total_seconds() >= 0.2


def test_a_caller_that_hangs_up_is_recorded_not_crashed(capfd: pytest.CaptureFixture[str]) -> None:
    """A client timing out during the injected latency: 499 in the log, no ASGI error, still serving."""
    with running_sandbox(SandboxKnobs(latency_ms=300)) as sandbox:
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{sandbox.base_url}/lists", json=AUDIENCE_BODY, auth=AUTH, timeout=0.05)
        records = _once_the_post_is_logged(sandbox)
        assert [r["status"] for r in records if r["method"] == "POST"] == [499]
        assert ping(sandbox) == 200
    assert "Exception in ASGI application" not in capfd.readouterr().err


def _once_the_post_is_logged(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """The request log once the abandoned POST is in it (the sandbox logs it when its latency is over,
    however long that takes on this machine; the deadline only stops a broken sandbox hanging the test)."""
    deadline = time.monotonic() + 60
    while True:
        records: list[dict[str, Any]] = requests.get(
            f"{sandbox.root_url}/_sandbox/requests", timeout=5
        ).json()["requests"]
        if any(r["method"] == "POST" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)
