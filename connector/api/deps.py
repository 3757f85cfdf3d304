"""What every router needs from the app: the context, the metrics, and the shared error model."""

from typing import cast

from fastapi import Request
from pydantic import BaseModel

from connector.api.metrics import Metrics
from connector.doctor.cache import DoctorCache
from connector.services.context import AppContext


class Problem(BaseModel):
    """An error: what went wrong, and where (the field or parameter) when known."""

    detail: str
    field: str | None = None


def problem(description: str) -> dict[str, object]:
    """An OpenAPI ``responses`` entry with the :class:`Problem` body."""
    return {"model": Problem, "description": description}


def app_context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.ctx)


def app_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


def app_doctor(request: Request) -> DoctorCache:
    return cast(DoctorCache, request.app.state.doctor)
