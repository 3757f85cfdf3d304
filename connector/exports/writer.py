"""Formula-safe CSV and streamed JSON for exports.

CSV: UTF-8 (optionally with a byte order mark, so Excel reads æøå right), every field quoted, ``\r\n``
line ends, and every cell that a spreadsheet would run as a formula (starting with ``=`` ``+`` ``-``
``@``, tab or CR) neutralised with a leading ``'`` (``parsing.cells.neutralise_formula``); the importer
undoes exactly that, so an export re-imports to the same values.
"""

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Literal

from connector.imports.parsing.cells import neutralise_formula

ExportFormat = Literal["csv", "json"]
BOM = "\ufeff"


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[str]], *, bom: bool) -> int:
    """Write the rows; returns how many."""
    if bom:
        out.write(BOM)
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise_formula(cell) for cell in header])
    count = 0
    for cells in rows:
        writer.writerow([neutralise_formula(cell) for cell in cells])
        count += 1
    return count


def write_json(out: IO[str], documents: Iterable[dict[str, object]]) -> int:
    """A JSON array written one object at a time (never the whole export in memory)."""
    out.write("[")
    count = 0
    for document in documents:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(document, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
