"""Serve an ASGI app with uvicorn in a background thread on a loopback port (0 picks a free one).

The sandbox, the demo and the tests start servers in-process this way.
"""

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

STARTUP_TIMEOUT_S = 10.0


@dataclass
class ThreadedServer:
    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=STARTUP_TIMEOUT_S)


def start_threaded(
    config_for_port: Callable[[int], uvicorn.Config], host: str, port: int, name: str
) -> ThreadedServer:
    """Bind, start uvicorn in a daemon thread, and wait until it accepts connections."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it keep-alive answers wait ~40 ms for a delayed ACK (Nagle).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    bound = listener.getsockname()[1]
    server = uvicorn.Server(config_for_port(bound))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.005)
    return ThreadedServer(host, bound, server, thread)
