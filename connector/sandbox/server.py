"""Run the sandbox: in-process on a free port for tests, the demo and benchmarks, or in the foreground.

    with running_sandbox(SandboxKnobs(latency_ms=5)) as sandbox:
        client.api_client.host = sandbox.base_url   # http://127.0.0.1:<port>/3.0
        ...

uvicorn serves it with the h11 protocol, subclassed so that every request knows its connection's
transport (see :mod:`connector.sandbox.guard`: that is how a dropped-connection fault closes the socket
without a response).
"""

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from connector.sandbox.app import create_app
from connector.sandbox.guard import CONNECTION
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.persistence import SnapshotStore
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.state import SandboxState
from connector.threaded_server import start_threaded

LOCALHOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0


class _TransportAwareH11(H11Protocol):
    def data_received(self, data: bytes) -> None:
        CONNECTION.set(self.transport)  # copied into the request task that handle_events creates
        super().data_received(data)


def load_state(knobs: SandboxKnobs) -> SandboxState:
    """The state saved in ``knobs.state_file``, or an empty one."""
    if knobs.state_file is None:
        return SandboxState()
    return SandboxState(SnapshotStore(knobs.state_file).load())


@dataclass
class SandboxHandle:
    """A sandbox running in a background thread."""

    app: FastAPI
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the official client's ``api_client.host`` should point."""
        return f"{self.root_url}/3.0"

    @property
    def transactional_base_url(self) -> str:
        """Mailchimp Transactional 1.x: ``TransactionalGateway(key, base_url=...)``."""
        return f"{self.root_url}/api/1.0"

    @property
    def transactional_key(self) -> str:
        """A Transactional key the sandbox accepts: the first of ``transactional_keys``, or any."""
        keys = self.runtime.knobs.transactional_keys
        return keys[0] if keys else "sandbox-transactional-key"

    @property
    def runtime(self) -> SandboxRuntime:
        return cast(SandboxRuntime, self.app.state.runtime)

    @property
    def state(self) -> SandboxState:
        return self.runtime.state

    @property
    def seed(self) -> int:
        return self.runtime.faults.seed

    @property
    def api_key(self) -> str:
        """A key the sandbox accepts (any prefix, the data-centre suffix)."""
        return f"sandbox-{self.runtime.knobs.dc}"

    def stats(self) -> dict[str, Any]:
        return self.runtime.observations.stats()

    def wait_for_webhooks(self, timeout_s: float = 10.0) -> bool:
        """Wait until no webhook delivery is queued or in progress; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.runtime.webhooks.pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_S)


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_TransportAwareH11,
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        backlog=2048,
    )


def start_sandbox(knobs: SandboxKnobs | None = None, host: str = LOCALHOST, port: int = 0) -> SandboxHandle:
    """Start a sandbox in a daemon thread; ``port`` 0 picks a free port. Call ``stop()`` when done."""
    knobs = knobs or SandboxKnobs()
    app = create_app(load_state(knobs), knobs)
    running = start_threaded(lambda bound: _config(app, host, bound), host, port, "the Mailchimp sandbox")
    return SandboxHandle(app, host, running.port, running.server, running.thread)


@contextmanager
def running_sandbox(knobs: SandboxKnobs | None = None) -> Iterator[SandboxHandle]:
    """A sandbox on a free port of 127.0.0.1 for the duration of the ``with`` block."""
    handle = start_sandbox(knobs)
    try:
        yield handle
    finally:
        handle.stop()


COLLECTOR_THRESHOLDS = (50_000, 20, 20)
"""The cyclic collector's thresholds in a sandbox process of its own (:func:`serve`). Its heap is mostly the
stored members, long-lived and acyclic (freed by reference counting when replaced), and a 500-member batch
allocates some 15,000 objects: with the default (700, 10, 10) the collector walks the stored audience over
and over, a third of such a call's CPU at 100,000 members. Collections still run, less often."""


def serve(knobs: SandboxKnobs, host: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Run in the foreground until interrupted (the CLI); ``announce`` gets the base URL and the seed."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    app = create_app(load_state(knobs), knobs)
    runtime = cast(SandboxRuntime, app.state.runtime)
    announce(f"Mailchimp sandbox: http://{host}:{port}/3.0  (API key: anything-{knobs.dc})")
    announce(f"Mailchimp Transactional sandbox: http://{host}:{port}/api/1.0")
    announce(f"fault seed: {runtime.faults.seed}  (replay with --seed {runtime.faults.seed})")
    uvicorn.Server(_config(app, host, port)).run()
