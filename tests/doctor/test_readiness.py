"""``/readyz`` shows the doctor's last check: one check for many probes, refreshed in the background."""

import threading
from dataclasses import replace

from fastapi.testclient import TestClient
from pydantic import SecretStr

from connector.api.app import create_app
from connector.doctor.cache import DoctorCache
from connector.doctor.report import DoctorReport, fail, ok
from connector.sandbox.server import SandboxHandle
from connector.services.context import AppContext
from connector.settings import AudienceSettings
from tests.doctor.conftest import GOOD_KEY


def _with_sandbox(ctx: AppContext, sandbox: SandboxHandle, list_id: str) -> AppContext:
    mailchimp = ctx.settings.mailchimp.model_copy(
        update={"api_key": SecretStr(GOOD_KEY), "base_url": sandbox.base_url, "max_attempts": 1}
    )
    audience = AudienceSettings(name="main", list_id=list_id, purposes=("newsletter",))
    settings = ctx.settings.model_copy(update={"mailchimp": mailchimp, "audiences": (audience,)})
    return replace(ctx, settings=settings)


def _root_calls(sandbox: SandboxHandle) -> int:
    return sum(1 for r in sandbox.app.state.runtime.observations.requests() if r["endpoint"] == "GET /3.0/")


def test_readyz_names_a_wrong_list_id_from_one_check_for_many_probes(
    ctx: AppContext, sandbox: SandboxHandle
) -> None:
    app = create_app(_with_sandbox(ctx, sandbox, "0000000000"))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["configuration"] == "pending"
        app.state.doctor.join()
        for _ in range(5):
            answer = client.get("/readyz")
            assert answer.status_code == 200
            assert answer.json()["configuration"] == "failing"
    (line,) = answer.json()["failing"]
    assert line.startswith("[fail] audiences.main.list_id: account 'consent-sync sandbox' has no audience")
    assert _root_calls(sandbox) == 1


def test_readyz_is_ok_when_every_check_passes(ctx: AppContext, sandbox: SandboxHandle, list_id: str) -> None:
    app = create_app(_with_sandbox(ctx, sandbox, list_id))
    app.state.doctor.refresh()
    with TestClient(app) as client:
        answer = client.get("/readyz").json()
    assert answer["configuration"] == "ok"  # segments not set up yet and no webhook secret: skipped
    assert answer["failing"] == []


class _GatedCheck:
    """A doctor check that finishes only when the test says so, counting its runs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.runs = 0

    def __call__(self) -> DoctorReport:
        self.release.wait()
        self.runs += 1
        return DoctorReport((ok("database", "fine"), fail("mailchimp.api_key", "refused")))


def test_a_stale_report_is_refreshed_once_in_the_background() -> None:
    now = [0.0]
    check = _GatedCheck()
    cache = DoctorCache(check, max_age_seconds=60, clock=lambda: now[0])
    assert cache.latest() is None
    assert cache.latest() is None  # the first check is still running: no second one
    check.release.set()
    cache.join()
    first = cache.latest()
    assert first is not None
    assert not first.ok
    assert check.runs == 1
    now[0] = 61.0
    assert cache.latest() is first  # the stale report is served while the new check runs
    cache.join()
    assert check.runs == 2
