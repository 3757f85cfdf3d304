from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DeliveryStatus = Literal["sent", "queued", "scheduled", "rejected", "invalid"]


@dataclass(frozen=True)
class NoticeRecipient:
    email: str
    name: str | None = None
    merge_vars: Mapping[str, str] = field(default_factory=dict)  # per-recipient merge vars (FNAME, ITEM, ...)
    metadata: Mapping[str, str] = field(default_factory=dict)  # per-recipient metadata (contact_id)


@dataclass(frozen=True)
class NoticeMessage:
    subject: str | None  # None when a template supplies it
    from_email: str
    from_name: str | None
    text: str | None = None
    html: str | None = None
    template_name: str | None = None  # send-template when set, else messages/send
    global_merge_vars: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)  # {"notice_id": ..., "kind": ...}
    tags: tuple[str, ...] = ()
    recipients: tuple[NoticeRecipient, ...] = ()
    # always sent with preserve_recipients: false, track_opens/clicks false, merge_language "mailchimp"


@dataclass(frozen=True)
class DeliveryOutcome:
    email: str
    status: DeliveryStatus
    reject_reason: (
        str | None
    )  # hard-bounce, soft-bounce, spam, unsub, custom, invalid-sender, invalid, test-mode-limit, rule, ...
    message_id: str | None  # Transactional's _id


@dataclass(frozen=True)
class SmsOutcome:
    phone: str
    status: str
    reject_reason: str | None
    message_id: str | None
