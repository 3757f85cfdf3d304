"""Apply a plan to a mirror through the pure Mailchimp model (``core.transitions``), as the run would.

A member Mailchimp refuses as in compliance state becomes ``unsubscribed`` in the mirror, which is what
the sync run records; every other rejection leaves the member as it was.
"""

from dataclasses import replace
from datetime import datetime
from typing import assert_never

from connector.core import transitions
from connector.core.plan import AddTags, Archive, DeletePermanently, Operation, Plan, RemoveTags, UpsertMember
from connector.core.remote import MemberStatus, RemoteMember


def simulate(plan: Plan, mirror: dict[str, RemoteMember], now: datetime) -> dict[str, RemoteMember]:
    result = dict(mirror)
    for op in plan.operations:
        have = result.get(op.subscriber_hash)
        outcome = outcome_of(op, have, now)
        if isinstance(outcome, RemoteMember):
            result[op.subscriber_hash] = outcome
        elif have is not None and outcome.title == "Member In Compliance State":
            result[op.subscriber_hash] = replace(
                have, status=MemberStatus.UNSUBSCRIBED, status_before_archive=None
            )
    return result


def outcome_of(op: Operation, have: RemoteMember | None, now: datetime) -> transitions.Outcome:
    match op:
        case UpsertMember():
            return transitions.upsert(
                have,
                op.email,
                status=op.status,
                status_if_new=op.status_if_new,
                merge_fields=dict(op.merge_fields),
                now=now,
            )
        case AddTags():
            return transitions.add_tags(have, op.tags, now)
        case RemoveTags():
            return transitions.remove_tags(have, op.tags, now)
        case Archive():
            return transitions.archive(have, now)
        case DeletePermanently():
            return transitions.delete_permanent(have, now)
        case _:
            assert_never(op)
