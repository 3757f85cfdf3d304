"""A notice's target file: references (order, subscription or account ids) or e-mail addresses, one
per line, or the first column of a CSV file. A header line (``reference``, ``email``…) is skipped."""

import csv
from pathlib import Path

from connector.core.identity import IdentityError, normalise_email
from connector.errors import InputError

_HEADERS = frozenset({"reference", "references", "ref", "order", "order_id", "email", "e-mail", "address"})


def read_target_file(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(references, addresses) the file names, in order, without repeats; errors name file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError("--file", f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError("--file", f"{path}: not UTF-8 text (byte {exc.start})") from None
    references: dict[str, None] = {}
    emails: dict[str, None] = {}
    dialect = _dialect(text)
    for line, row in enumerate(csv.reader(text.splitlines(), dialect), start=1):
        value = row[0].strip() if row else ""
        if not value or (line == 1 and value.lower() in _HEADERS):
            continue
        if "@" in value:
            try:
                emails[normalise_email(value)] = None
            except IdentityError as exc:
                raise InputError(f"{path}:{line}", str(exc)) from None
        elif len(value) > 200:
            raise InputError(f"{path}:{line}", "a reference is at most 200 characters")
        else:
            references[value] = None
    if not references and not emails:
        raise InputError("--file", f"{path}: names no reference or e-mail address")
    return tuple(references), tuple(emails)


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel
