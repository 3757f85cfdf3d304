"""The result archive of a ``/batches`` run: a gzipped tar of JSON files, read in memory.

Each file holds an array of ``{"status_code", "operation_id", "response"}`` where ``response`` is itself
a JSON *string*. Paged GET operations may spread over several files, so every file is read. Nothing is
extracted to disk (no path traversal); only regular ``.json`` files are read.
"""

import io
import json
import tarfile

from connector.errors import FatalMailchimpError
from connector.mailchimp.payloads import BatchOperationResult


def parse_batch_archive(data: bytes) -> tuple[BatchOperationResult, ...]:
    """Every operation result in the archive, in file order."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            return tuple(
                result
                for info in archive.getmembers()
                if info.isfile() and info.name.endswith(".json")
                for result in _results(_read(archive, info))
            )
    except (tarfile.TarError, EOFError, OSError) as error:
        raise FatalMailchimpError(f"batch results are not a readable tar archive: {error}") from None


def _read(archive: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(info)
    return handle.read() if handle is not None else b"[]"


def _results(content: bytes) -> list[BatchOperationResult]:
    try:
        entries = json.loads(content) if content.strip() else []
    except ValueError as error:
        raise FatalMailchimpError(f"batch results file is not JSON: {error}") from None
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise FatalMailchimpError("batch results file is not a list of operation results")
    return [_result(entry) for entry in entries if isinstance(entry, dict)]


def _result(entry: dict[str, object]) -> BatchOperationResult:
    status = entry.get("status_code", 0)
    operation_id = entry.get("operation_id")
    return BatchOperationResult(
        operation_id=None if operation_id is None else str(operation_id),
        status_code=status if isinstance(status, int) else int(str(status or 0)),
        response=_response(entry.get("response")),
    )


def _response(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else None
    except ValueError:
        return value
