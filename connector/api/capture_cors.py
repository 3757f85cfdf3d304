"""CORS for the public capture routes only (``/consents``), for the origins configured; nothing else.

The admin API, webhooks and metrics never answer a browser's cross-origin request: they get no CORS
headers whatever the origin.
"""

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CAPTURE_PREFIX = "/consents"


class CaptureCors:
    """ASGI middleware: Starlette's CORS around ``/consents`` calls when origins are configured."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self._app = app
        self._cors: ASGIApp | None = None
        if origins:
            self._cors = CORSMiddleware(
                app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Accept"],
                allow_credentials=False,
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors is not None and scope["type"] == "http" and _is_capture(scope["path"]):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


def _is_capture(path: str) -> bool:
    return path == CAPTURE_PREFIX or path.startswith(CAPTURE_PREFIX + "/")
