"""Fold append-only consent events into the current consent state per purpose × channel.

Events are ordered by when they occurred, never by when they arrived; at the same instant a withdrawal
sorts after a grant (the cautious reading), and the record id breaks any remaining tie, so the fold is a
function of the set of events alone.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connector.core.model import Channel, ConsentAction, ConsentEvent

_ACTION_ORDER = {ConsentAction.GIVEN: 0, ConsentAction.CONFIRMED: 1, ConsentAction.WITHDRAWN: 2}

ConsentKey = tuple[str, Channel]


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Where consent for one purpose × channel stands after every event.

    ``grant`` is the latest grant that is an act of consent (ticked by the person, with evidence) and
    that no withdrawal has followed; ``confirmation`` confirms that grant (double opt-in);
    ``withdrawal`` is the latest withdrawal; ``not_consent`` is the latest grant that was no act of
    consent (a pre-ticked box, missing evidence), kept to explain a refusal. ``confirmed`` is the latest
    confirmed grant with its confirmation since the last withdrawal: a repeat sign-up that still awaits
    its own confirmation does not suspend it.
    """

    purpose: str
    channel: Channel
    grant: ConsentEvent | None = None
    confirmation: ConsentEvent | None = None
    withdrawal: ConsentEvent | None = None
    not_consent: ConsentEvent | None = None
    confirmed: tuple[ConsentEvent, ConsentEvent] | None = None


def is_act_of_consent(event: ConsentEvent) -> bool:
    """A grant counts only if the person actively gave it and its evidence is on record."""
    return event.action is ConsentAction.GIVEN and event.active_act and event.has_evidence


def event_order(event: ConsentEvent) -> tuple[object, ...]:
    return (event.occurred_at, _ACTION_ORDER[event.action], event.id)


def fold(events: Iterable[ConsentEvent]) -> Mapping[ConsentKey, ConsentState]:
    """The consent state per (purpose, channel), independent of the order events arrived in."""
    folds: dict[ConsentKey, _Fold] = {}
    for event in sorted(events, key=event_order):
        key = (event.purpose, event.channel)
        folding = folds.get(key)
        if folding is None:
            folding = folds[key] = _Fold()
        folding.step(event)
    return {key: folding.state(*key) for key, folding in folds.items()}


class _Fold:
    """The fold's running state for one purpose × channel (mutable inside ``fold`` only, for speed)."""

    __slots__ = ("confirmation", "confirmed", "grant", "not_consent", "withdrawal")

    def __init__(self) -> None:
        self.grant: ConsentEvent | None = None
        self.confirmation: ConsentEvent | None = None
        self.withdrawal: ConsentEvent | None = None
        self.not_consent: ConsentEvent | None = None
        self.confirmed: tuple[ConsentEvent, ConsentEvent] | None = None

    def step(self, event: ConsentEvent) -> None:
        """Apply one event, in order of occurrence."""
        match event.action:
            case ConsentAction.GIVEN if is_act_of_consent(event):
                self.grant, self.confirmation = event, None
            case ConsentAction.GIVEN:
                self.not_consent = event
            case ConsentAction.CONFIRMED if self.grant is not None:
                self.confirmation, self.confirmed = event, (self.grant, event)
            case ConsentAction.CONFIRMED:
                pass
            case ConsentAction.WITHDRAWN:
                self.grant = self.confirmation = self.confirmed = None
                self.withdrawal = event

    def state(self, purpose: str, channel: Channel) -> ConsentState:
        return ConsentState(
            purpose, channel, self.grant, self.confirmation, self.withdrawal, self.not_consent, self.confirmed
        )
