"""``/docs`` and ``/redoc`` work without internet: every script, style and image they load is served by
the app itself, none from a CDN."""

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")
_ANY_URL = re.compile(r"""https?://[^\s"'<>)]+""")


def _references(page: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_only_what_the_app_serves(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    page = answer.text
    foreign = [url for url in _ANY_URL.findall(page) if urlsplit(url).hostname not in {"testserver", None}]
    assert foreign == [], f"{path} loads from another host: {foreign}"
    references = _references(page)
    assert any(ref.endswith(".js") for ref in references), references
    for reference in references:
        fetched = client.get(reference)
        assert fetched.status_code == 200, f"{path} refers to {reference}: {fetched.status_code}"
        assert fetched.content, reference


def test_the_swagger_ui_page_loads_its_bundle_and_styles(client: TestClient) -> None:
    references = _references(client.get("/docs").text)
    assert {urlsplit(ref).path.rsplit("/", 1)[-1] for ref in references} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "openapi.json",
    }
    bundle = next(ref for ref in references if ref.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in client.get(bundle).text
