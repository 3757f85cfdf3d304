"""Property-based calls generated from ``/openapi.json`` (schemathesis): no endpoint answers 5xx."""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from connector.api.app import create_app
from connector.services.context import AppContext
from tests.api.conftest import WRITE_TOKEN


@pytest.fixture
def api_schema(api_ctx: AppContext) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(api_ctx)
    with TestClient(app):
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_endpoint_answers_5xx(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
    assert response.status_code < 500, (
        f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    )
