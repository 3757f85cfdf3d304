"""What a sandbox Transactional handler raises to answer an error, and the body-field reader that says
which field is wrong the way Transactional does."""

from typing import Any


class TransactionalError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise TransactionalError(
                "ValidationError", f'Validation error: {{"{name}":"Please enter a value"}}'
            )
        return None
    if not isinstance(value, str):
        raise TransactionalError("ValidationError", f'Validation error: {{"{name}":"must be a string"}}')
    return value
