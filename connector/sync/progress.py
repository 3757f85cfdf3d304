"""How far a sync run is: members planned, calls and members sent, operations Mailchimp confirmed, an ETA.

A streamed run updates one :class:`SyncProgress` as it goes (planning thread and sender thread each own
their counters); the CLI draws it, the run report keeps its last state, the daemon exports it as metrics.
"""

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SyncProgress:
    planned_contacts: int = 0
    planned_operations: int = 0
    estimated_calls: int = 0
    """The calls the operations planned so far need (grows while planning)."""
    planning_done: bool = False
    sent_calls: int = 0
    sent_operations: int = 0
    """Operations whose call was sent and answered (confirmed, rejected or found opted out)."""
    confirmed_operations: int = 0
    started: float = field(default_factory=time.monotonic)

    def eta_seconds(self) -> float | None:
        """Seconds to go at the rate calls went so far; ``None`` before the first call or while planning
        has not yet estimated more calls than were sent."""
        left = self.estimated_calls - self.sent_calls
        if not self.sent_calls or left <= 0:
            return None
        return (time.monotonic() - self.started) / self.sent_calls * left

    def line(self) -> str:
        eta = self.eta_seconds()
        planned = "planned" if self.planning_done else "planning"
        return (
            f"{planned} {self.planned_contacts:,} contacts ({self.planned_operations:,} operations); "
            f"sent {self.sent_calls:,} of ~{self.estimated_calls:,} calls "
            f"({self.sent_operations:,} operations); "
            f"confirmed {self.confirmed_operations:,} operations"
            + (f"; ETA {eta:,.0f} s" if eta is not None else "")
        )

    def document(self) -> dict[str, Any]:
        return {
            "planned_contacts": self.planned_contacts,
            "planned_operations": self.planned_operations,
            "estimated_calls": self.estimated_calls,
            "planning_done": self.planning_done,
            "sent_calls": self.sent_calls,
            "sent_operations": self.sent_operations,
            "confirmed_operations": self.confirmed_operations,
            "eta_seconds": None if (eta := self.eta_seconds()) is None else round(eta, 1),
            "seconds": round(time.monotonic() - self.started, 3),
        }
