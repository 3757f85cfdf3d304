"""Throughput check (not a test): the reader + interpret vs a bare ``csv.reader`` pass.

Run: ``.venv/bin/python -m tests.imports.throughput [ROWS]`` (default 200,000). Writes a Windows-1252,
semicolon-delimited contacts file to a temporary directory and prints both timings and their ratio.
"""

import csv
import sys
import tempfile
import time
from pathlib import Path

from connector.imports.reader import open_import

FIRST_NAMES = ("Ola", "Kari", "Bjørn", "Åse", "Ærlend", "Søren", "Mette")
LAST_NAMES = ("Nordmann", "Ødegård", "Hæreid", "Åsen", "Berg", "Økland")
ASCII_LOCAL = str.maketrans({"æ": "ae", "ø": "o", "å": "aa", "Æ": "Ae", "Ø": "O", "Å": "Aa"})
"""Addresses are ASCII before the @ (Mailchimp's rule); the name columns keep æøå."""


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="cp1252", newline="") as out:
        out.write("E-post;Fornavn;Etternavn;Mobil;Kundenummer\r\n")
        for i in range(rows):
            first, last = FIRST_NAMES[i % 7], LAST_NAMES[i % 6]
            phone = f"{9 if i % 2 else 4}{i % 10_000_000:07d}" if i % 5 else ""
            local = f"{first}.{last}{i}".translate(ASCII_LOCAL)
            out.write(f"{local}@Example.no;{first};{last};{phone};{100000 + i}\r\n")


def bare_pass(path: Path) -> float:
    started = time.perf_counter()
    with path.open(encoding="cp1252", newline="") as stream:
        for _ in csv.reader(stream, delimiter=";"):
            pass
    return time.perf_counter() - started


def reader_pass(path: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    (csv_file,) = open_import(path)
    for _ in csv_file.rows():
        pass
    report = csv_file.report()
    return time.perf_counter() - started, report.rows_read, report.row_errors


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "contacts.csv"
        write_file(path, rows)
        bare = min(bare_pass(path) for _ in range(3))
        ours, read, errors = min(reader_pass(path) for _ in range(3))
    print(f"rows: {read} ({errors} row errors)")
    print(f"bare csv.reader: {bare:.3f} s ({bare / rows * 1e6:.2f} µs/row)")
    print(f"reader+interpret: {ours:.3f} s ({ours / rows * 1e6:.2f} µs/row)")
    print(f"ratio: {ours / bare:.2f}")


if __name__ == "__main__":
    main()
