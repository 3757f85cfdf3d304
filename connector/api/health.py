"""Operations: liveness, readiness (database reachable, migrations at head), Prometheus metrics."""

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from connector.api.deps import app_context, app_doctor, app_metrics
from connector.api.metrics import Metrics
from connector.doctor.cache import DoctorCache
from connector.doctor.report import DoctorReport
from connector.services.context import AppContext
from connector.store.migrate import is_at_head

router = APIRouter(tags=["operations"])
log = structlog.get_logger("connector.api.health")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    database: Literal["ok", "unreachable"]
    migrations: Literal["at_head", "behind", "unknown"]
    configuration: Literal["ok", "failing", "pending"]
    """The last ``consent-sync doctor`` check of Mailchimp (``pending`` until the first has finished).
    Informational: a wrong key or list does not take webhook intake out of service."""
    failing: list[str]
    """The failed checks' lines, as ``consent-sync doctor`` prints them."""


def _configuration(report: DoctorReport | None) -> dict[str, object]:
    if report is None:
        return {"configuration": "pending", "failing": []}
    failing = [check.line() for check in report.failures()]
    return {"configuration": "failing" if failing else "ok", "failing": failing}


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(
    ctx: Annotated[AppContext, Depends(app_context)],
    doctor: Annotated[DoctorCache, Depends(app_doctor)],
    response: Response,
) -> Readiness:
    """The database answers and its schema is at the newest migration (else 503); and the last check of
    the Mailchimp configuration (cached, refreshed in the background)."""
    configuration = _configuration(doctor.latest())
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        migrations: Literal["at_head", "behind"] = "at_head" if is_at_head(ctx.engine) else "behind"
    except SQLAlchemyError as exc:
        log.warning("health.database_unreachable", error=type(exc).__name__)
        response.status_code = 503
        return Readiness.model_validate({"database": "unreachable", "migrations": "unknown", **configuration})
    if migrations != "at_head":
        response.status_code = 503
    return Readiness.model_validate({"database": "ok", "migrations": migrations, **configuration})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(found: Annotated[Metrics, Depends(app_metrics)]) -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(found.exposition), media_type=CONTENT_TYPE_LATEST)
