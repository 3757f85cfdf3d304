"""Formula-safe CSV cells for exports (OWASP "CSV injection").

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, a tab or
carriage return) as a formula. :func:`neutralise_formula` prefixes such a cell with a single quote, which
spreadsheets show as text; :func:`restore_formula` undoes exactly that, so an exported file re-imports to
the same values: ``restore_formula(neutralise_formula(cell)) == cell`` for every cell.

A cell that already begins with quotes before a trigger character (``'=1``) gets one more quote, or the
round trip would eat the quote that was really there.
"""

FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_QUOTE = "'"


def _starts_formula_after_quotes(cell: str) -> bool:
    return cell.lstrip(_QUOTE)[:1] in FORMULA_TRIGGERS


def neutralise_formula(cell: str) -> str:
    """The cell as a spreadsheet will show it as text, never run it as a formula."""
    if _starts_formula_after_quotes(cell):
        return _QUOTE + cell
    return cell


def restore_formula(cell: str) -> str:
    """The original cell of a :func:`neutralise_formula` result (the inverse, for re-imports)."""
    if cell.startswith(_QUOTE) and _starts_formula_after_quotes(cell):
        return cell[1:]
    return cell
