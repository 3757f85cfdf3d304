"""The inbox writer: one thread that commits queued webhook deliveries a batch per transaction.

Requests queue their delivery and wait; the writer takes everything queued (up to ``max_batch``),
applies it in one transaction with :func:`accept_batch`, and only after that commit answers each
waiting request. While a batch commits the next one queues, so the batch grows with the load and a
lone event is committed at once (no waiting for company). One writer per process: on SQLite the
only writer there can be; on PostgreSQL each ``serve`` worker process has its own.
"""

import asyncio
import queue
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

import structlog

from connector.api.inbox import Answer, Delivery, IntakeReport, accept_batch
from connector.api.metrics import Metrics
from connector.services.context import AppContext

log = structlog.get_logger("connector.api.inbox_writer")
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class _Waiting:
    delivery: Delivery
    answer: "Future[IntakeReport]"


class InboxWriter:
    """Started on the first delivery; :meth:`stop` commits what is queued and ends the thread."""

    def __init__(self, ctx: AppContext, metrics: Metrics | None = None, max_batch: int = MAX_BATCH) -> None:
        self._ctx, self._metrics, self._max_batch = ctx, metrics, max_batch
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def accept(self, delivery: Delivery) -> IntakeReport:
        """The delivery's report once its batch committed; raises what made it fail (a retry is due)."""
        answer: Future[IntakeReport] = Future()
        self._ensure_started()
        self._queue.put(_Waiting(delivery, answer))
        return await asyncio.wrap_future(answer)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _ensure_started(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch, stopping = self._next_batch()
            if batch:
                self._commit(batch)
            if stopping:
                return

    def _next_batch(self) -> tuple[list[_Waiting], bool]:
        """Block for one delivery, then take whatever else is already queued."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                break
            if waiting is None:
                return batch, True
            batch.append(waiting)
        return batch, False

    def _commit(self, batch: list[_Waiting]) -> None:
        try:
            answers = accept_batch(self._ctx, [waiting.delivery for waiting in batch], self._metrics)
        except BaseException as exc:  # the thread must outlive any failure; every caller gets an answer
            log.error("webhook.writer_failed", error=type(exc).__name__)
            answers = [exc if isinstance(exc, Exception) else RuntimeError("writer failed")] * len(batch)
        for waiting, answer in zip(batch, answers, strict=True):
            _settle(waiting.answer, answer)


def _settle(future: "Future[IntakeReport]", answer: Answer) -> None:
    """Answer the waiting request; one that went away meanwhile (cancelled) needs no answer."""
    try:
        if isinstance(answer, IntakeReport):
            future.set_result(answer)
        else:
            future.set_exception(answer)
    except InvalidStateError:
        pass
