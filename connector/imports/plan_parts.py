"""The entries of a plan while a builder collects them, and the :class:`ImportPlan` they make."""

from connector.imports.decisions import Outcome
from connector.imports.parsing.rows import RowError
from connector.imports.plan import (
    AlreadyApplied,
    AwaitingConfirmation,
    Blocked,
    ContactDecision,
    Duplicate,
    EventDecision,
    IgnoredConsent,
    ImportFile,
    ImportPlan,
    NotCovered,
    ObjectionDecision,
    RelationshipDecision,
    SuppressionDecision,
)


class PlanParts:
    def __init__(self) -> None:
        self.contacts: list[ContactDecision] = []
        self.events: list[EventDecision] = []
        self.objections: list[ObjectionDecision] = []
        self.relationships: list[RelationshipDecision] = []
        self.suppressions: list[SuppressionDecision] = []
        self.blocked: list[Blocked] = []
        self.ignored: list[IgnoredConsent] = []
        self.duplicates: list[Duplicate] = []
        self.not_covered: list[NotCovered] = []
        self.awaiting: list[AwaitingConfirmation] = []

    def add_outcome(self, outcome: Outcome) -> None:
        if outcome.contact is not None:
            self.contacts.append(outcome.contact)
        self.events += outcome.events
        self.objections += outcome.objections
        self.relationships += outcome.relationships
        self.suppressions += outcome.suppressions
        self.blocked += outcome.blocked
        self.ignored += outcome.ignored
        self.not_covered += outcome.not_covered
        self.awaiting += outcome.awaiting

    def plan(
        self,
        source: str | None,
        files: tuple[ImportFile, ...],
        done: tuple[AlreadyApplied, ...],
        rejected: list[RowError],
    ) -> ImportPlan:
        return ImportPlan(
            source=source,
            files=files,
            already_applied=done,
            contacts=tuple(self.contacts),
            events=tuple(self.events),
            objections=tuple(self.objections),
            relationships=tuple(self.relationships),
            suppressions=tuple(self.suppressions),
            rejected=tuple(rejected),
            blocked=tuple(self.blocked),
            ignored_consent=tuple(self.ignored),
            duplicates=tuple(self.duplicates),
            not_covered=tuple(self.not_covered),
            awaiting_confirmation=tuple(self.awaiting),
        )
