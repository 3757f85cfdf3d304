"""The sending side of a streamed run: steps arrive chunk by chunk and go out in full calls at once.

A thread of its own takes the steps a chunk persisted (a bounded queue: planning never runs more than a
couple of chunks ahead) and sends them with the run's :class:`~connector.sync.apply.Applier`, so the calls
of one chunk are in flight while the next is planned. Calls are filled across chunk borders: batch
subscribes of ``batch_size`` members and tag edits of 500 go out as soon as they are full, the rest waits
for the next chunk or for :meth:`StreamSender.close`. A tag step waits until its member's upsert (if the
run has one) is answered: a new member's tags ride in its batch subscribe entry, and a member Mailchimp
refused gets no tag calls. Every answer is recorded on this thread, with at most ``connections`` calls
sent and not yet recorded, exactly as ``apply_run`` does.
"""

import queue
import threading
from collections import defaultdict
from collections.abc import Sequence

from connector.core.plan import AddTags, RemoveTags, UpsertMember
from connector.sync.apply import Applier, Call, carried_tags, group
from connector.sync.record import Step

_CLOSE = None
TAG_LIMIT = 500


class StreamSender:
    """Sends the steps handed to :meth:`send` on a thread of its own; :meth:`close` flushes and joins."""

    def __init__(self, applier: Applier, *, depth: int = 2) -> None:
        self.applier = applier
        self.failure: BaseException | None = None
        self._queue: queue.Queue[list[Step] | None] = queue.Queue(maxsize=depth)
        self._upserts: list[Step] = []
        self._tag_steps: list[Step] = []
        """Tag steps whose member's upsert is not answered yet."""
        self._adds: dict[str, list[Step]] = defaultdict(list)
        self._removes: dict[str, list[Step]] = defaultdict(list)
        self._flushing = True
        self._thread = threading.Thread(target=self._run, name="sync-stream", daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """Sending failed or ``should_stop`` said so: planning more is pointless."""
        return self.failure is not None or self.applier.recorder.report.stopped

    def send(self, steps: list[Step]) -> None:
        """Hand over a chunk's persisted steps (blocks while the queue is full)."""
        if steps:
            self._queue.put(steps)

    def close(self, *, flush: bool = True) -> None:
        """Send everything still waiting, partial calls included (unless not ``flush``: planning failed,
        and what it stored is sent by the resume); re-raise a failure of the thread."""
        self._flushing = flush
        self._queue.put(_CLOSE)
        self._thread.join()
        if self.failure is not None and flush:
            raise self.failure

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            steps = self._queue.get()
            try:
                if self.failure is None and not self.applier.halted():
                    if steps is _CLOSE:
                        if self._flushing:
                            self._flush()
                    else:
                        self._take(steps)
            except BaseException as error:  # raised in the planning thread by ``close``
                self.failure = error
            if steps is _CLOSE:
                return

    def _take(self, steps: Sequence[Step]) -> None:
        applier = self.applier
        with applier.timings.timed("apply: grouping steps into calls"):
            applier.carried.update(carried_tags(steps))
            for step in steps:
                if isinstance(step.op, UpsertMember):
                    self._upserts.append(step)
                elif isinstance(step.op, AddTags | RemoveTags):
                    self._tag_steps.append(step)
                else:  # archives and deletions are destructive: never streamed
                    raise ValueError(f"a streamed {type(step.op).__name__}: only the guard lets those out")
        self._send_upserts(final=False)
        self._send_tags(final=False)

    def _flush(self) -> None:
        self._send_upserts(final=True)
        self._send_tags(final=True)

    def _send_upserts(self, *, final: bool) -> None:
        size = self.applier.options.batch_size
        whole = len(self._upserts) if final else len(self._upserts) // size * size
        if not whole:
            return
        chunk, self._upserts = self._upserts[:whole], self._upserts[whole:]
        with self.applier.timings.timed("apply: grouping steps into calls"):
            calls = self.applier.upsert_calls(group(chunk))
        carried = self.applier.carried
        for step in chunk:  # its entry is built and its recorder has its tags: a streamed run forgets them
            carried.pop(step.op.subscriber_hash, None)
        self.applier.perform("upserts", calls)

    def _send_tags(self, *, final: bool) -> None:
        waiting = {s.op.subscriber_hash for s in self._upserts}
        ready = [s for s in self._tag_steps if s.op.subscriber_hash not in waiting]
        self._tag_steps = [s for s in self._tag_steps if s.op.subscriber_hash in waiting]
        with self.applier.timings.timed("apply: grouping steps into calls"):
            groups = group(ready)  # tags confirmed in a new member's entry are no longer to do
            for tag, steps in groups.adds.items():
                self._adds[tag] += steps
            for tag, steps in groups.removes.items():
                self._removes[tag] += steps
            calls = self._tag_calls(final=final)
        self.applier.perform("tags", calls)

    def _tag_calls(self, *, final: bool) -> list[Call]:
        applier, calls = self.applier, []
        limit = min(applier.options.batch_size, TAG_LIMIT)
        unwritten = applier.recorder.unwritten
        for tag in sorted(self._adds.keys() | self._removes.keys()):
            adds = self._adds.get(tag, [])
            if skipped := [s for s in adds if s.op.subscriber_hash in unwritten]:
                applier.recorder.skipped(skipped, "member not written (its upsert was rejected)")
                adds = [s for s in adds if s.op.subscriber_hash not in unwritten]
            removes = self._removes.get(tag, [])
            while len(adds) >= limit or len(removes) >= limit or (final and (adds or removes)):
                calls.append(applier.tag_call(tag, adds[:limit], removes[:limit]))
                adds, removes = adds[limit:], removes[limit:]
            self._adds[tag], self._removes[tag] = adds, removes
        return calls
