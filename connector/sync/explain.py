"""The dry-run: a plan rendered as lines per member, counts per operation, and the calls it will make.

Renders exactly the operations ``apply`` performs, so the preview cannot drift from the run.
"""

from collections.abc import Mapping
from typing import Any, assert_never

from connector.core.plan import (
    AddTags,
    Archive,
    DeletePermanently,
    Operation,
    Plan,
    RemoveTags,
    UpsertMember,
    estimate_calls,
)


def describe(op: Operation) -> str:
    """One line for one operation."""
    match op:
        case UpsertMember():
            status = op.status.value if op.status else f"{op.status_if_new.value} if new"
            return f"upsert (status {status}) — {op.because}"
        case AddTags():
            return f"add tags {', '.join(sorted(op.tags))} — {op.because}"
        case RemoveTags():
            return f"remove tags {', '.join(sorted(op.tags))} — {op.because}"
        case Archive():
            return f"archive — {op.because}"
        case DeletePermanently():
            return f"delete permanently — {op.because}"
        case _:
            assert_never(op)


def who(op: Operation, emails: Mapping[str, str]) -> str:
    match op:
        case UpsertMember() | AddTags() | RemoveTags():
            return op.email
        case Archive() | DeletePermanently():
            return emails.get(op.subscriber_hash, f"member {op.subscriber_hash[:8]}")
        case _:
            assert_never(op)


def render(
    plan: Plan,
    emails: Mapping[str, str] | None = None,
    batch_limit: int = 500,
    batch_jobs_above: int | None = None,
) -> list[str]:
    """Lines per member, then counts per operation type and the API calls (``sync.batch_jobs_above``)."""
    lines: list[str] = []
    current = ""
    for op in plan.operations:
        name = who(op, emails or {})
        if name != current:
            lines.append(name)
            current = name
        lines.append(f"  {describe(op)}")
    if not plan.operations:
        lines.append(f"audience {plan.audience}: nothing to change")
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(plan.counts().items()))
    lines.append(f"operations: {counts or 'none'}")
    calls = estimate_calls(plan, batch_limit, batch_jobs_above=batch_jobs_above)
    lines.append(f"Mailchimp API calls: {calls}")
    return lines


def document(
    plan: Plan,
    emails: Mapping[str, str] | None = None,
    batch_limit: int = 500,
    batch_jobs_above: int | None = None,
) -> dict[str, Any]:
    """The plan as JSON-ready data."""
    return {
        "audience": plan.audience,
        "operations": [
            {
                "kind": type(op).__name__,
                "subscriber_hash": op.subscriber_hash,
                "member": who(op, emails or {}),
                "change": describe(op),
            }
            for op in plan.operations
        ],
        "counts": plan.counts(),
        "calls": estimate_calls(plan, batch_limit, batch_jobs_above=batch_jobs_above),
    }
