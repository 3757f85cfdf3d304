"""Two daemon processes on one database: exactly one schedules, and a killed leader is replaced."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox.knobs import SandboxKnobs
from tests.daemon.conftest import Deployment, deploy, wait_for


@pytest.fixture
def deployment(deployment_url: str, tmp_path: Path) -> Iterator[Deployment]:
    yield from deploy(deployment_url, tmp_path, SandboxKnobs())


def test_two_daemons_elect_exactly_one_leader_and_replace_a_killed_one(deployment: Deployment) -> None:
    first = deployment.start()
    second = deployment.start()
    wait_for(lambda: {first.leading(), second.leading()} == {True, False}, 10, "one leader, one follower")
    time.sleep(1.0)  # several retry rounds later, still exactly one
    assert sorted([first.leading(), second.leading()]) == [False, True]
    leader, follower = (first, second) if first.leading() else (second, first)
    killed_at = time.monotonic()
    leader.kill()
    wait_for(lambda: follower.leading() is True, 10, "the follower to take over")
    assert time.monotonic() - killed_at < 5
    assert '"daemon.leader.acquired"' in follower.logs()
