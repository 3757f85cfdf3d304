"""Import files (CSV, Mailchimp export zips) read as streams of typed rows; see ``reader``."""

from connector.imports.reader import (
    CsvFile,
    Encoding,
    FileReport,
    ReadOptions,
    detect_encoding,
    open_import,
    read_rows,
    sniff_delimiter,
)

__all__ = [
    "CsvFile",
    "Encoding",
    "FileReport",
    "ReadOptions",
    "detect_encoding",
    "open_import",
    "read_rows",
    "sniff_delimiter",
]
