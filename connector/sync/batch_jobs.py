"""Many archives and permanent deletions as one ``/batches`` job instead of one call each.

See docs/mailchimp-mapping.md.

The job's id is written into every step's payload before waiting for it, so a run killed while Mailchimp
works on the job polls the same job on resume instead of submitting it again.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from connector.core.plan import Archive
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import BatchOperation, BatchOperationResult
from connector.sync.record import Recorder, SingleOutcome, Step

FIRST_POLL_SECONDS = 0.2
LONGEST_POLL_SECONDS = 5.0


def batch_operation(list_id: str, step: Step) -> BatchOperation:
    """The ``/batches`` operation of one archive or permanent deletion; its id is the step's ``seq``."""
    member = f"/lists/{list_id}/members/{step.op.subscriber_hash}"
    if isinstance(step.op, Archive):
        return BatchOperation("DELETE", member, operation_id=str(step.seq))
    return BatchOperation("POST", f"{member}/actions/delete-permanent", operation_id=str(step.seq))


def single_outcome(result: BatchOperationResult | None) -> SingleOutcome:
    if result is None:
        return SingleOutcome(found=False, error="no result in the /batches job; planned again next run")
    if 200 <= result.status_code < 300:
        return SingleOutcome(found=True)
    if result.status_code == 404:
        return SingleOutcome(found=False)
    detail = result.response.get("detail") if isinstance(result.response, dict) else result.response
    return SingleOutcome(found=False, error=f"{result.status_code}: {detail}")


def apply_as_batch_job(
    gateway: MailchimpGateway,
    recorder: Recorder,
    list_id: str,
    steps: Sequence[Step],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Submit the steps not yet in a job as one job, wait for every job, record each step's result."""
    jobs: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        if "batch_id" in step.payload:
            jobs[str(step.payload["batch_id"])].append(step)
    fresh = [s for s in steps if "batch_id" not in s.payload]
    if fresh:
        status = gateway.start_batch([batch_operation(list_id, s) for s in fresh])
        recorder.called()
        recorder.batch_started(fresh, status.id)
        jobs[status.id] += fresh
    for batch_id, carried in jobs.items():
        results = _results(gateway, recorder, batch_id, sleep)
        recorder.singles((step, single_outcome(results.get(str(step.seq)))) for step in carried)


def _results(
    gateway: MailchimpGateway, recorder: Recorder, batch_id: str, sleep: Callable[[float], None]
) -> Mapping[str, BatchOperationResult]:
    pause = FIRST_POLL_SECONDS
    while not gateway.batch_status(batch_id).finished:
        recorder.called()
        sleep(pause)
        pause = min(pause * 2, LONGEST_POLL_SECONDS)
    recorder.called()
    results = gateway.batch_results(batch_id)
    recorder.called()
    return {r.operation_id: r for r in results if r.operation_id is not None}
