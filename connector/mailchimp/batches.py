"""``/batches``: submit many heterogeneous operations, poll, and read the gzipped tar of results."""

from collections.abc import Sequence

from connector.mailchimp import codec
from connector.mailchimp.archive import parse_batch_archive
from connector.mailchimp.payloads import BatchOperation, BatchOperationResult, BatchStatus
from connector.mailchimp.transport import Endpoint, Transport

START_BATCH = Endpoint("POST", "/batches")
BATCH = Endpoint("GET", "/batches/{batch_id}")


class BatchCalls:
    _transport: Transport

    def start_batch(self, operations: Sequence[BatchOperation]) -> BatchStatus:
        """Submit operations (run in any order by Mailchimp); poll with :meth:`batch_status`."""
        if not operations:
            raise ValueError("a batch needs at least one operation")
        body = {"operations": [codec.operation_body(op) for op in operations]}
        return codec.batch_status(self._transport.call(START_BATCH, body=body).data)

    def batch_status(self, batch_id: str) -> BatchStatus:
        return codec.batch_status(self._transport.call(BATCH, {"batch_id": batch_id}).data)

    def batch_results(self, batch_id: str) -> tuple[BatchOperationResult, ...]:
        """Every operation's result of a finished batch.

        Re-reads the batch first: the download URL is only valid for 10 minutes. The download goes to
        Mailchimp's storage without the API key.
        """
        status = self.batch_status(batch_id)
        if not status.finished:
            raise ValueError(f"batch {batch_id} is {status.status}, not finished")
        if status.response_body_url is None:
            return ()
        return parse_batch_archive(self._transport.download(status.response_body_url))
