"""The inbox writer: one thread that commits queued webhook deliveries a batch per transaction.

Requests queue their delivery and wait; the writer takes everything queued (up to ``max_batch``),
applies it in one transaction with :func:`accept_batch`, and only after that commit answers each
waiting request (one hand-off to the requests' event loop per batch). While a batch commits the next
one queues, so the batch grows with the load; with ``window`` zero (the default) a lone event is
committed at once (no waiting for company), otherwise the writer waits up to ``window`` seconds after
a batch's first event for more (``webhooks.batch_window_ms``).
One writer per process: on SQLite the only writer there can be; on PostgreSQL each ``serve`` worker
process has its own. The writer holds one connection for all its batches (no pool checkout and no
pre-ping round trip per batch); one that failed is closed and the next batch opens a new one.
"""

import asyncio
import contextlib
import queue
import threading
import time
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection

from connector.api.inbox import Answer, Delivery, IntakeReport, accept_batch
from connector.api.metrics import Metrics
from connector.services.context import AppContext

log = structlog.get_logger("connector.api.inbox_writer")
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class _Waiting:
    delivery: Delivery
    answer: "asyncio.Future[IntakeReport]"
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    """Started on the first delivery; :meth:`stop` commits what is queued and ends the thread."""

    def __init__(
        self,
        ctx: AppContext,
        metrics: Metrics | None = None,
        max_batch: int = MAX_BATCH,
        window: float = 0.0,
    ) -> None:
        self._ctx, self._metrics, self._max_batch, self._window = ctx, metrics, max_batch, window
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._connection: Connection | None = None

    async def accept(self, delivery: Delivery) -> IntakeReport:
        """The delivery's report once its batch committed; raises what made it fail (a retry is due)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[IntakeReport] = loop.create_future()
        self._ensure_started()
        self._queue.put(_Waiting(delivery, answer, loop))
        return await answer

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
        try:
            while True:
                batch, stopping = self._next_batch()
                if batch:
                    self._commit(batch)
                if stopping:
                    return
        finally:
            self._close_connection()

    def _next_batch(self) -> tuple[list[_Waiting], bool]:
        """Block for one delivery, then take what else queues within the window (or is queued already)."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self._window
        while len(batch) < self._max_batch:
            try:
                waiting = self._take(deadline)
            except queue.Empty:
                break
            if waiting is None:
                return batch, True
            batch.append(waiting)
        return batch, False

    def _take(self, deadline: float) -> _Waiting | None:
        """The next queued delivery, waiting for one until ``deadline``; ``queue.Empty`` after it."""
        remaining = deadline - time.monotonic()
        return self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()

    def _commit(self, batch: list[_Waiting]) -> None:
        deliveries = [waiting.delivery for waiting in batch]
        try:
            answers = accept_batch(self._ctx, deliveries, self._metrics, self._held_connection())
        except BaseException as exc:  # the thread must outlive any failure; every caller gets an answer
            log.error("webhook.writer_failed", error=type(exc).__name__)
            answers = [exc if isinstance(exc, Exception) else RuntimeError("writer failed")] * len(batch)
        if any(not isinstance(answer, IntakeReport) for answer in answers):
            self._close_connection()  # it may be what failed: the next batch starts on a new one
        _answer_all(batch, answers)

    def _held_connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._ctx.engine.connect()
        return self._connection

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:  # a broken connection: the pool discards it anyway
                log.warning("webhook.writer_connection_close_failed", error=type(exc).__name__)


def _answer_all(batch: list[_Waiting], answers: list[Answer]) -> None:
    """Hand the answers to the requests' event loops: one wake-up per loop and batch, not one per event."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[IntakeReport], Answer]]] = {}
    for waiting, answer in zip(batch, answers, strict=True):
        by_loop.setdefault(waiting.loop, []).append((waiting.answer, answer))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these answers any more
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[IntakeReport], Answer]]) -> None:
    """In the requests' loop: answer each; one that went away meanwhile (cancelled) needs no answer."""
    for future, answer in settled:
        if future.done():
            continue
        if isinstance(answer, IntakeReport):
            future.set_result(answer)
        else:
            future.set_exception(answer)
