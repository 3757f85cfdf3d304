"""``/batches``: operations run in the background against the app itself; results as a gzipped tar."""

import asyncio
import io
import json
import tarfile
from typing import Any
from urllib.parse import urlencode

import structlog

from connector.sandbox.guard import API_PREFIX, INTERNAL
from connector.sandbox.problems import ApiProblemError, invalid
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.state import BatchRecord, short_id

log = structlog.get_logger("connector.sandbox.batches")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
UNFINISHED = frozenset({"pending", "preprocessing", "started", "finalizing"})


def parse_operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    operations = body.get("operations")
    if not isinstance(operations, list):
        raise invalid("operations", "operations must be an array")
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or str(operation.get("method", "")).upper() not in METHODS:
            raise invalid(f"operations.{index}.method", "method must be one of GET, POST, PUT, PATCH, DELETE")
        if not str(operation.get("path", "")).startswith("/"):
            raise invalid(f"operations.{index}.path", "path must start with /")
    return operations


async def invoke(app: Any, method: str, path: str, query: str, body: bytes) -> tuple[int, bytes]:
    """Call the ASGI app in-process, as a batch operation (past auth, limits and faults)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"sandbox")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        INTERNAL: True,
    }
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def tarball(results: list[dict[str, Any]]) -> bytes:
    """A gzipped tar with one JSON file per operation, each an array of result objects."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for index, result in enumerate(results):
            data = json.dumps([result]).encode()
            info = tarfile.TarInfo(name=f"{index}.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class BatchRunner:
    def __init__(self, runtime: SandboxRuntime) -> None:
        self._runtime = runtime
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def pending(self) -> int:
        return sum(1 for batch in self._runtime.state.data.batches.values() if batch.status in UNFINISHED)

    def submit(self, operations: list[dict[str, Any]], root_url: str) -> BatchRecord:
        runtime = self._runtime
        batch_id = short_id("batch", runtime.state.next_number())
        record = BatchRecord(batch_id, "pending", len(operations), runtime.now())
        runtime.state.data.batches[batch_id] = record
        task = asyncio.get_running_loop().create_task(self._run(record, operations, root_url))
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(batch_id, None))
        log.info("sandbox.batch.submitted", batch_id=batch_id, operations=len(operations))
        return record

    def cancel(self, batch_id: str) -> None:
        task = self._tasks.pop(batch_id, None)
        if task is not None:
            task.cancel()

    async def _run(self, record: BatchRecord, operations: list[dict[str, Any]], root_url: str) -> None:
        await asyncio.sleep(0)
        record.status = "started"
        results = [await self._operation(record, operation) for operation in operations]
        record.status = "finalizing"
        record.result = tarball(results)
        record.result_url = f"{root_url.rstrip('/')}/_sandbox/batch-results/{record.id}.tar.gz"
        record.completed_at = self._runtime.now()
        record.status = "finished"
        self._runtime.persist()
        log.info("sandbox.batch.finished", batch_id=record.id, errored=record.errored_operations)

    async def _operation(self, record: BatchRecord, operation: dict[str, Any]) -> dict[str, Any]:
        per_member = self._runtime.knobs.latency_per_member_ms
        if per_member:
            await asyncio.sleep(per_member / 1000)
        status, body = await self._call(operation)
        record.finished_operations += 1
        record.errored_operations += int(status >= 400)
        return {
            "status_code": status,
            "operation_id": operation.get("operation_id"),
            "response": body.decode(),
        }

    async def _call(self, operation: dict[str, Any]) -> tuple[int, bytes]:
        params = operation.get("params") or {}
        raw_body = operation.get("body") or ""
        body = raw_body if isinstance(raw_body, str) else json.dumps(raw_body)
        try:
            return await invoke(
                self._runtime.app,
                str(operation["method"]).upper(),
                API_PREFIX + str(operation["path"]),
                urlencode(params),
                body.encode(),
            )
        except ApiProblemError as problem:  # pragma: no cover - routes answer problems themselves
            return problem.status, json.dumps({"title": problem.title}).encode()
