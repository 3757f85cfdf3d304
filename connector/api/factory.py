"""The uvicorn factory of ``serve --workers N``: each worker process builds its own app."""

from fastapi import FastAPI


def app_from_environment() -> FastAPI:
    """Settings from ``$CONSENT_SYNC_CONFIG`` and the environment, as the parent ``serve`` left them."""
    from connector.api.app import create_app
    from connector.logs import configure_logging
    from connector.services.context import build_context
    from connector.settings import load_settings

    settings = load_settings(None)
    configure_logging(settings.logging, service=True)
    return create_app(build_context(settings))
