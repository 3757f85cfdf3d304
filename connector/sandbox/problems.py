"""Mailchimp's problem+json error documents, and the exception routes raise to answer with one."""

import json
import uuid
from typing import Any

from starlette.responses import Response

from connector.core.transitions import INVALID_RESOURCE, VALIDATION_DETAIL, Rejection

PROBLEM_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_MEDIA_TYPE = "application/problem+json; charset=utf-8"


class ApiProblemError(Exception):
    """Raised by a route to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []


def problem_document(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors:
        document["errors"] = errors
    return document


def problem_response(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Response:
    body = json.dumps(problem_document(status, title, detail, errors))
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def from_rejection(rejection: Rejection) -> ApiProblemError:
    errors = [{"field": rejection.field, "message": rejection.detail}] if rejection.field else None
    return ApiProblemError(rejection.status, rejection.title, rejection.detail, errors)


def invalid(field: str, message: str, detail: str = VALIDATION_DETAIL) -> ApiProblemError:
    """400 Invalid Resource naming one field, as Mailchimp's validation errors do."""
    return ApiProblemError(400, INVALID_RESOURCE, detail, [{"field": field, "message": message}])


def not_found(detail: str = "The requested resource could not be found.") -> ApiProblemError:
    return ApiProblemError(404, "Resource Not Found", detail)
