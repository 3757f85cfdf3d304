"""The export as a Parquet file (``--format parquet``): the CSV's columns as strings, a row group per page.

Needs ``pyarrow``, the optional ``parquet`` extra; without it :func:`parquet_available` raises
``MissingExtraError`` naming the extra, before anything is read or written.
"""

from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

from connector.errors import MissingExtraError

ROW_GROUP = 10_000


def require_parquet() -> None:
    """``MissingExtraError`` unless ``pyarrow`` (with Parquet) is installed."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingExtraError("Parquet export", "pyarrow", "parquet") from None


def write_parquet(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write the rows (strings; empty cells as empty strings, as in the CSV); returns how many."""
    require_parquet()
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(name, pa.string(), nullable=False) for name in header])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        remaining = iter(rows)
        while group := list(islice(remaining, ROW_GROUP)):
            columns = [pa.array(column, type=pa.string()) for column in zip(*group, strict=True)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            count += len(group)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count
