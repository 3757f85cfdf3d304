"""A persisted operation reads back as the operation: a run just persisted applies its plan's own
operations, a resumed one what it decodes from the rows, and both must be the same."""

from hypothesis import given, settings

from connector.core.desired import AudienceMapping, DesiredMember
from connector.core.plan import Erasure, diff
from connector.core.remote import MemberStatus, RemoteMember
from connector.sync.stored_plan import StoredRow, decode, encode
from tests.core.test_plan_properties import audiences


@settings(max_examples=200, deadline=None)
@given(audiences())
def test_every_planned_operation_decodes_to_itself(
    audience: tuple[dict[str, DesiredMember], dict[str, RemoteMember], frozenset[str], AudienceMapping],
) -> None:
    desired, mirror, managed, mapping = audience
    keys = sorted(mirror)
    erasures = [Erasure(keys[0], "delete_permanent")] if keys else []
    erasures += [Erasure(key, "archive") for key in keys[1:2]]
    for seq, op in enumerate(diff(desired, mirror, mapping, managed, erasures).operations):
        kind, payload = encode(op, send_status=MemberStatus.SUBSCRIBED, contact_id="contact-1")
        row = StoredRow("run-1", seq, kind, op.subscriber_hash, payload, "pending", None)

        assert decode(row) == op
