"""Checks exchanged request and response bodies against Mailchimp's OpenAPI spec.

The spec is vendored in ``tests/contracts/specs/marketing-openapi.json`` (its source and date are in the
README beside it).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "tests" / "contracts" / "specs" / "marketing-openapi.json"
SPEC_URI = "urn:mailchimp-marketing-openapi"
SPEC_DEVIATIONS = (
    "merge_fields values: the flattened spec types them as objects; Mailchimp sends and accepts strings "
    "(and address objects), so their additionalProperties are left unconstrained."
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def spec_path(template: str) -> str:
    """``/3.0/lists/{list_id}/members/{subscriber_hash}`` -> ``/lists/{listId}/members/{subscriberHash}``."""
    path = template.removeprefix("/3.0")
    return re.sub(r"\{([a-z_]+)\}", lambda m: "{" + _camel(m.group(1)) + "}", path)


def _relax_merge_fields(node: Any) -> None:
    if isinstance(node, dict):
        merge_fields = node.get("properties", {}).get("merge_fields")
        if isinstance(merge_fields, dict) and "additionalProperties" in merge_fields:
            merge_fields["additionalProperties"] = {}
        for value in node.values():
            _relax_merge_fields(value)
    elif isinstance(node, list):
        for value in node:
            _relax_merge_fields(value)


@dataclass
class Exchange:
    method: str
    template: str
    status: int
    request_body: str
    response_body: str


class SpecChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        _relax_merge_fields(spec)
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT7)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.spec["paths"].get(spec_path(template), {}).get(method.lower())
        return found

    def _errors(self, schema: dict[str, Any], document: Any) -> list[str]:
        rooted = _rooted(schema)
        validator = Draft7Validator(rooted, registry=self.registry)
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)
        ]

    def violations(self, exchange: Exchange) -> list[str]:
        where = f"{exchange.method} {exchange.template} -> {exchange.status}"
        operation = self.operation(exchange.method, exchange.template)
        if operation is None:
            return [f"{where}: no such operation in the spec"]
        problems = [f"{where} request: {e}" for e in self._request_errors(operation, exchange)]
        return problems + [f"{where} response: {e}" for e in self._response_errors(operation, exchange)]

    def _request_errors(self, operation: dict[str, Any], exchange: Exchange) -> list[str]:
        if not exchange.request_body or exchange.method == "GET" or exchange.status >= 400:
            return []  # a request the sandbox refused may be wrong on purpose
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        return self._errors(schema, json.loads(exchange.request_body))

    def _response_errors(self, operation: dict[str, Any], exchange: Exchange) -> list[str]:
        if exchange.status == 204 or not exchange.response_body:
            return [] if exchange.status == 204 or exchange.status in (403, 429) else ["empty response body"]
        responses = operation["responses"]
        response = responses.get(str(exchange.status)) or responses.get("default")
        if response is None:
            return [f"status {exchange.status} not documented"]
        content = response.get("content", {})
        media = content.get("application/json") or content.get("application/problem+json") or {}
        return self._errors(media.get("schema", {}), json.loads(exchange.response_body))


def _rooted(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the operation's ``#/components/...`` references point into the spec resource."""
    text = json.dumps(schema).replace('"#/components/', f'"{SPEC_URI}#/components/')
    rooted: dict[str, Any] = json.loads(text)
    return rooted


def load_checker() -> SpecChecker:
    return SpecChecker(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def exchanges(records: list[dict[str, Any]]) -> list[Exchange]:
    """The ``/3.0`` calls of a sandbox request log (kept with ``log_bodies``)."""
    return [
        Exchange(
            method=r["method"],
            template=r["endpoint"].split(" ", 1)[1],
            status=r["status"],
            request_body=r["request_body"] or "",
            response_body=r["response_body"] or "",
        )
        for r in records
        if r["path"].startswith("/3.0") and r["status"]
    ]
