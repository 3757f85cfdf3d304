"""A sign-up as posted: JSON, or a plain HTML form (urlencoded or multipart), validated alike.

Problems name the HTTP field (``email``, ``purposes``, …) the sign-up form posts, never a CLI option.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import FormData

from connector.core.model import Channel
from connector.errors import InputError

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
LIST_FIELDS = frozenset({"purposes"})
TICKED = frozenset({"on", "true", "yes", "1", "checked"})

SERVICE_FIELDS = {
    "--purpose": "purposes",
    "--channel": "channel",
    "--notice-version": "notice_version",
    "--pre-ticked": "checkbox",
}
"""The fields the consent services name (their CLI options), as the sign-up form calls them."""


class SignUp(BaseModel):
    """A sign-up as the form submitted it. ``checkbox`` is the consent box's value exactly as posted
    (absent when not ticked); ``checkbox_prechecked`` says whether the form showed it ticked already.
    As an HTML form, ``purposes`` is one field per purpose (``purposes=newsletter&purposes=offers``)."""

    email: str = Field(max_length=320)
    purposes: list[str] = Field(min_length=1)
    channel: Channel = Channel.EMAIL
    notice_version: str = Field(min_length=1, max_length=100)
    checkbox: str | None = None
    checkbox_prechecked: bool = False
    form_id: str | None = Field(default=None, max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Posted:
    """The request's body as field values; ``kind`` says how it came. ``problem``: unreadable body."""

    kind: Literal["json", "form"]
    values: dict[str, Any]
    problem: FieldProblem | None = None


class SignUpInvalidError(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


async def posted_sign_up(request: Request) -> Posted:
    """Dependency: the body of a sign-up, as JSON or form fields (read here, validated later)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in FORM_TYPES:
        try:
            return Posted("form", _form_values(await request.form()))
        except Exception:  # python-multipart's and Starlette's errors vary by version: any is a bad body
            return Posted("form", {}, FieldProblem("body", "the form data could not be read"))
    try:
        values = json.loads(await request.body())
    except ValueError:
        expected = "a JSON object, or an HTML form (application/x-www-form-urlencoded or multipart/form-data)"
        return Posted("json", {}, FieldProblem("body", f"expected {expected}"))
    if not isinstance(values, dict):
        return Posted("json", {}, FieldProblem("body", "expected a JSON object"))
    return Posted("json", values)


def checked_sign_up(posted: Posted) -> SignUp:
    """The sign-up, validated, with the tick checked; ``SignUpInvalidError`` naming each field otherwise."""
    if posted.problem is not None:
        raise SignUpInvalidError([posted.problem])
    try:
        body = SignUp.model_validate(posted.values)
    except ValidationError as exc:
        raise SignUpInvalidError([_problem(error) for error in exc.errors()]) from None
    if body.checkbox_prechecked:
        raise SignUpInvalidError(
            [FieldProblem("checkbox_prechecked", "a pre-ticked box is not consent; nothing was recorded")]
        )
    if body.checkbox is None or body.checkbox.strip().lower() not in TICKED:
        message = "the consent box was not ticked by the person; nothing was recorded"
        raise SignUpInvalidError([FieldProblem("checkbox", message)])
    return body


def as_field_problem(exc: InputError) -> FieldProblem:
    """A service's :class:`InputError` with its field named as the sign-up form names it."""
    return FieldProblem(SERVICE_FIELDS.get(exc.where, exc.where), exc.reason)


def sign_up_request_body() -> dict[str, object]:
    """The OpenAPI ``requestBody`` of ``POST /consents``: the same fields as JSON or as an HTML form."""
    schema = _inlined(SignUp.model_json_schema())
    content = {media: {"schema": schema} for media in ("application/json", *sorted(FORM_TYPES))}
    return {"requestBody": {"required": True, "content": content}}


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its local ``$defs`` references replaced by the definitions (OpenAPI has no $defs)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in dict.fromkeys(form.keys()):
        texts = [value for value in form.getlist(name) if isinstance(value, str)]
        if name in LIST_FIELDS:
            values[name] = [text for text in texts if text.strip()]
        elif texts:
            values[name] = texts[-1]
    return values


def _problem(error: Any) -> FieldProblem:
    location = [str(part) for part in error.get("loc", ())]
    return FieldProblem(location[0] if location else None, str(error.get("msg", "invalid")))
