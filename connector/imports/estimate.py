"""How many rows import files hold, estimated from their sizes (for progress bars and pages)."""

from pathlib import Path


def estimated_rows(paths: list[Path]) -> int:
    """Rows the files hold, from their sizes and the line length of their first 64 KiB."""
    total = 0
    for path in paths:
        try:
            with path.open("rb") as stream:
                sample = stream.read(64 * 1024)
        except OSError:
            continue
        per_line = len(sample) / max(sample.count(b"\n"), 1)
        total += int(_size(path) / max(per_line, 1.0))
    return max(total, 1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
