"""Spreadsheet workbooks given to ``import``: recognised by name and by content, refused with the fix.

A workbook is a ZIP (``.xlsx``, ``.ods``, ``.numbers``) or an OLE compound file (``.xls``); read as CSV it
would be rejected for its encoding or taken for a zip of Mailchimp exports holding no CSV, neither of which
tells the person what to do.
"""

import zipfile
from pathlib import Path

from connector.errors import InputError

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
EXCEL = ("an Excel workbook", "File → Save As → CSV UTF-8")
CALC = ("an OpenDocument spreadsheet", "File → Save As → Text CSV, character set UTF-8")
NUMBERS = ("a Numbers spreadsheet", "File → Export To → CSV, text encoding UTF-8")
BY_SUFFIX = {".xlsx": EXCEL, ".xlsm": EXCEL, ".xls": EXCEL, ".ods": CALC, ".numbers": NUMBERS}


def refuse_workbook(path: Path) -> None:
    """Raise ``InputError`` naming ``path`` when it is a spreadsheet workbook rather than CSV."""
    found = workbook_kind(path)
    if found is not None:
        kind, menu = found
        raise InputError(str(path), f"{kind}, not CSV: save it as CSV UTF-8 ({menu}) and import that")


def workbook_kind(path: Path) -> tuple[str, str] | None:
    """What kind of workbook ``path`` is (and how to save it as CSV), or ``None`` for anything else."""
    by_name = BY_SUFFIX.get(path.suffix.lower())
    if by_name is not None:
        return by_name
    with path.open("rb") as stream:
        head = stream.read(len(OLE_MAGIC))
    if head == OLE_MAGIC:
        return EXCEL
    return _zipped_workbook(path) if zipfile.is_zipfile(path) else None


def _zipped_workbook(path: Path) -> tuple[str, str] | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    if "xl/workbook.xml" in names:
        return EXCEL
    if b"opendocument.spreadsheet" in mimetype:
        return CALC
    if "Index/Document.iwa" in names:
        return NUMBERS
    return None
