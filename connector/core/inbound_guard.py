"""The guard on what Mailchimp tells us: a reconcile's opt-outs, bounces and deletions (see
docs/mailchimp-mapping.md).

A reconcile that would record withdrawals, suppressions or deletions for more than ``max_fraction`` of
the list's members (beyond ``floor`` members, so single unsubscribes and bounces always flow) records
none of them until a person accepts it: one misconfigured list id must not turn into thousands of lost
consents. A complete read that finds nobody on a list the mirror says holds members is always refused.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundVerdict:
    members: int
    """Members the reconcile would record an opt-out, suppression or deletion for."""
    list_size: int
    """Members present on the list per the mirror before the read."""
    limit: int
    empty_read: bool
    accepted: bool

    @property
    def held(self) -> bool:
        return self.empty_read or (self.members > self.limit and not self.accepted)

    def message(self) -> str:
        if self.empty_read:
            return (
                f"inbound held: a complete read of the list found no members, but the mirror holds "
                f"{self.list_size}; nothing recorded (is audiences.*.list_id the right list?)"
            )
        return (
            f"inbound held: Mailchimp reports opt-outs, bounces or deletions for {self.members} of "
            f"{self.list_size} members (limit {self.limit}); nothing of that kind recorded; check the list "
            f"in Mailchimp, then run `consent-sync reconcile --accept-inbound` if it is real"
        )


def inbound_limit(list_size: int, *, max_fraction: float, floor: int) -> int:
    """The most members a reconcile may record opt-outs, bounces or deletions for without a person."""
    return max(floor, int(max_fraction * list_size))


def judge_inbound(
    members: int,
    list_size: int,
    *,
    complete_read: int | None,
    max_fraction: float,
    floor: int,
    accepted: bool,
) -> InboundVerdict:
    """``complete_read``: the members a complete read found (``None`` for an incremental read)."""
    return InboundVerdict(
        members=members,
        list_size=list_size,
        limit=inbound_limit(list_size, max_fraction=max_fraction, floor=floor),
        empty_read=complete_read == 0 and list_size > 0,
        accepted=accepted,
    )
