"""An in-process stand-in for Mailchimp Transactional's ``messages/send``: per-recipient answers, a
reject list, an outbox of what was accepted, and a knob to die in the middle of a send."""

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.mailchimp.transactional_payloads import DeliveryOutcome, NoticeMessage


class SenderDiedError(RuntimeError):
    """The process "died" during a call (the call may or may not have reached Transactional)."""


@dataclass
class FakeTransactional:
    max_recipients_per_call: int = 3
    rejects: Mapping[str, str] = field(default_factory=dict)
    """Address → reject reason (``unsub``, ``hard-bounce``…): answered ``rejected``, nothing delivered."""
    die_after_calls: int | None = None
    """Raise on this call number (1-based), after Transactional accepted it (the answer is lost)."""
    outbox: list[tuple[str, Mapping[str, str], Mapping[str, str]]] = field(default_factory=list)
    calls: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def send(self, message: NoticeMessage) -> list[DeliveryOutcome]:
        assert len(message.recipients) <= self.max_recipients_per_call
        self.calls += 1
        answers = []
        for recipient in message.recipients:
            reason = self.rejects.get(recipient.email)
            if reason is not None:
                answers.append(DeliveryOutcome(recipient.email, "rejected", reason, f"m{next(self._ids)}"))
                continue
            self.outbox.append((recipient.email, dict(message.metadata), dict(recipient.merge_vars)))
            answers.append(DeliveryOutcome(recipient.email, "sent", None, f"m{next(self._ids)}"))
        if self.die_after_calls is not None and self.calls >= self.die_after_calls:
            self.die_after_calls = None
            raise SenderDiedError("killed mid-send")
        return answers

    def delivered(self) -> list[str]:
        return [email for email, _, _ in self.outbox]
