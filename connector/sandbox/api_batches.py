"""``/batches``: submit operations to run in the background, poll them, fetch their results."""

from typing import cast

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.sandbox import render
from connector.sandbox.assumptions import MAX_PENDING_BATCHES
from connector.sandbox.batches import BatchRunner, parse_operations
from connector.sandbox.context import runtime_of
from connector.sandbox.problems import ApiProblemError, not_found
from connector.sandbox.shaping import answer, json_body, links, no_content, page
from connector.sandbox.state import BatchRecord

router = APIRouter(prefix="/3.0/batches")


def runner_of(request: Request) -> BatchRunner:
    return cast(BatchRunner, request.app.state.batches)


@router.post("")
async def start_batch(request: Request) -> Response:
    runtime = runtime_of(request)
    operations = parse_operations(await json_body(request))
    runner = runner_of(request)
    if runner.pending() >= MAX_PENDING_BATCHES:
        detail = (
            f"You have more than {MAX_PENDING_BATCHES} pending batches. Please wait for some to complete."
        )
        raise ApiProblemError(429, "Too Many Requests", detail)
    with runtime.state.lock:
        record = runner.submit(operations, str(request.base_url))
        return answer(request, render.batch(record))


@router.get("")
async def list_batches(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.state.lock:
        batches = list(runtime.state.data.batches.values())
        documents = [render.batch(b) for b in page(request, batches)]
    return answer(request, {"batches": documents, "total_items": len(batches), "_links": links()})


def _batch(request: Request, batch_id: str) -> BatchRecord:
    found = runtime_of(request).state.data.batches.get(batch_id)
    if found is None:
        raise not_found()
    return found


@router.get("/{batch_id}")
async def batch_status(batch_id: str, request: Request) -> Response:
    return answer(request, render.batch(_batch(request, batch_id)))


@router.delete("/{batch_id}")
async def stop_batch(batch_id: str, request: Request) -> Response:
    record = _batch(request, batch_id)
    runner_of(request).cancel(record.id)
    del runtime_of(request).state.data.batches[record.id]
    return no_content()
