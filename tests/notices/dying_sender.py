"""``python -m tests.notices.dying_sender NOTICE_ID DIE_ON_CALL OUTBOX``: send a notice in a process of
its own through a fake Transactional that appends every accepted address to OUTBOX and kills the
process (``os._exit``, no clean-up, like ``kill -9``) right after accepting call DIE_ON_CALL."""

import os
import sys
from pathlib import Path

from connector.mailchimp.transactional_payloads import DeliveryOutcome, NoticeMessage
from connector.services.context import build_context
from connector.services.notice_sending import send_notice
from connector.settings import load_settings


class _DyingSender:
    max_recipients_per_call = 3

    def __init__(self, die_on_call: int, outbox: Path) -> None:
        self.calls = 0
        self.die_on_call = die_on_call
        self.outbox = outbox

    def send(self, message: NoticeMessage) -> list[DeliveryOutcome]:
        self.calls += 1
        with self.outbox.open("a", encoding="utf-8") as accepted:
            accepted.writelines(f"{r.email}\n" for r in message.recipients)
        if self.calls == self.die_on_call:
            os._exit(137)
        return [DeliveryOutcome(r.email, "sent", None, f"m-{r.email}") for r in message.recipients]


def main() -> None:
    notice_id, die_on_call, outbox = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    ctx = build_context(load_settings(None))
    send_notice(ctx, notice_id, _DyingSender(die_on_call, outbox))


if __name__ == "__main__":
    main()
