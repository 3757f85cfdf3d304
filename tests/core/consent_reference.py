"""The consent fold written a second time, from its rules rather than from ``connector.core.consent``.

The rules (docs/guarantees.md, the consent state of a purpose × channel):

- Events count in the order they occurred, never the order they arrived. At one instant a grant comes
  first, then a confirmation, then a withdrawal (the cautious reading); the record id settles the rest.
- A grant is an act of consent only if the person gave it actively and its evidence is on record (a
  notice version and a named source); any other grant is kept only to explain a refusal.
- A withdrawal ends every grant and confirmation before it.
- ``grant``: the latest act of consent since the latest withdrawal; ``confirmation``: the latest
  confirmation after that grant; ``confirmed``: the latest confirmation since the withdrawal that follows
  some act of consent, with the act it confirms (the latest one before it) — a newer grant awaiting its
  own confirmation leaves it standing; ``withdrawal``: the latest withdrawal; ``not_consent``: the latest
  grant that was no act of consent, withdrawal or not.

Where the production fold walks the events once with a small state machine, this one sorts each
purpose × channel's events and reads every field off the sorted list, so the two share no code.
"""

from collections.abc import Iterable, Mapping, Sequence

from connector.core.consent import ConsentKey, ConsentState
from connector.core.model import ConsentAction, ConsentEvent

_AT_ONE_INSTANT = (ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.WITHDRAWN)


def fold(events: Iterable[ConsentEvent]) -> Mapping[ConsentKey, ConsentState]:
    grouped: dict[ConsentKey, list[ConsentEvent]] = {}
    for event in events:
        grouped.setdefault((event.purpose, event.channel), []).append(event)
    return {key: _state(key, sorted(group, key=_occurrence)) for key, group in grouped.items()}


def is_act_of_consent(event: ConsentEvent) -> bool:
    return (
        event.action is ConsentAction.GIVEN
        and event.active_act
        and bool(event.notice_version)
        and bool(event.source)
    )


def _occurrence(event: ConsentEvent) -> tuple[object, ...]:
    return (event.occurred_at, _AT_ONE_INSTANT.index(event.action), event.id)


def _state(key: ConsentKey, ordered: Sequence[ConsentEvent]) -> ConsentState:
    withdrawals = [e for e in ordered if e.action is ConsentAction.WITHDRAWN]
    since = ordered[_last_index(ordered, ConsentAction.WITHDRAWN) + 1 :]
    acts = [i for i, e in enumerate(since) if is_act_of_consent(e)]
    confirmations = [i for i, e in enumerate(since) if e.action is ConsentAction.CONFIRMED]
    grant = since[acts[-1]] if acts else None
    confirmation = next((since[i] for i in reversed(confirmations) if acts and i > acts[-1]), None)
    confirming = [i for i in confirmations if acts and i > acts[0]]
    confirmed = None
    if confirming:
        confirms = max(a for a in acts if a < confirming[-1])
        confirmed = (since[confirms], since[confirming[-1]])
    refused = [e for e in ordered if e.action is ConsentAction.GIVEN and not is_act_of_consent(e)]
    return ConsentState(
        purpose=key[0],
        channel=key[1],
        grant=grant,
        confirmation=confirmation,
        withdrawal=withdrawals[-1] if withdrawals else None,
        not_consent=refused[-1] if refused else None,
        confirmed=confirmed,
    )


def _last_index(ordered: Sequence[ConsentEvent], action: ConsentAction) -> int:
    """The position of the last ``action`` event, or -1 when there is none."""
    return max((i for i, e in enumerate(ordered) if e.action is action), default=-1)
