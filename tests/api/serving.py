"""``consent-sync serve`` as a subprocess on a free loopback port, for end-to-end tests."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from fastapi import FastAPI

CONSENT_SYNC = Path(sys.executable).with_name("consent-sync")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServeProcess:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        command = [str(CONSENT_SYNC), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        env = {**os.environ, **self.env}
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("consent-sync serve did not start")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def serving(env: dict[str, str], workers: int = 1) -> Iterator[ServeProcess]:
    server = ServeProcess(env, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def served_in_thread(app: "FastAPI") -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port (real HTTP); yields its root URL.

    uvicorn's own proxy-header handling is off, so the app sees the connecting address as it is.
    """
    import uvicorn

    from connector.threaded_server import start_threaded

    def config(port: int) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )

    server = start_threaded(config, "127.0.0.1", 0, "consent-sync api")
    try:
        yield server.root_url
    finally:
        server.stop()
