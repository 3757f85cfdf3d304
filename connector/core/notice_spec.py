"""A transactional notice as specified: its id (the idempotency key), kind, target, template and sender.

The kinds are a closed list of service messages: a notice is never marketing, so there is no kind a
newsletter or an offer would fit. A spec is a plain value and converts to and from the JSON document the
store keeps, so a notice planned once is sent exactly as planned.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connector.errors import InputError


class NoticeKind(StrEnum):
    """What a notice is about: service messages only (DESIGN P4), never marketing."""

    CANCELLATION = "cancellation"
    CHANGE = "change"
    DELAY = "delay"
    DELIVERY = "delivery"
    ACCOUNT = "account"
    SECURITY = "security"
    SAFETY = "safety"
    RECALL = "recall"


NOTICE_KINDS = tuple(k.value for k in NoticeKind)


class NoticeChannel(StrEnum):
    """How a notice reaches the person: e-mail, SMS (Transactional's ``messages/send-sms``), or both."""

    EMAIL = "email"
    SMS = "sms"


CHANNEL_CHOICES = {"email": ("email",), "sms": ("sms",), "both": ("email", "sms")}
"""The CLI's and API's ``channel`` values and the channels each names."""
SMS_MAX_CHARS = 1600
"""At most ten concatenated SMS segments of 160 characters: a notice, not a letter."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_MERGE_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")


@dataclass(frozen=True, slots=True)
class NoticeTarget:
    """Whom the notice concerns: the holders of an item, of some references, or named addresses."""

    item: str | None = None
    references: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.item:
            parts.append(f"item {self.item!r}")
        if self.references:
            parts.append(f"{len(self.references)} reference(s)")
        if self.emails:
            parts.append(f"{len(self.emails)} address(es)")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class NoticeTemplate:
    """A Mailchimp Transactional template by name, or a subject with a text and/or HTML body.

    Bodies may hold merge fields (``*|FNAME|*``, ``*|ITEM|*``), filled per recipient by Transactional.
    """

    template_name: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class NoticeSpec:
    id: str
    kind: NoticeKind
    audience: str
    target: NoticeTarget
    template: NoticeTemplate
    from_email: str
    from_name: str | None = None
    merge_vars: Mapping[str, str] = field(default_factory=dict)
    """Global merge fields (the same for every recipient), e.g. ``{"NEWDATE": "2027-01-12"}``."""
    channels: tuple[NoticeChannel, ...] = (NoticeChannel.EMAIL,)
    sms_text: str | None = None
    """The SMS's text, with the same merge fields as the e-mail (filled by consent-sync: SMS has no
    merge language); without it an SMS carries the e-mail's text body."""

    def sms_body(self) -> str | None:
        """The text an SMS of this notice carries, before merge."""
        return self.sms_text or self.template.text

    def document(self) -> dict[str, Any]:
        """The spec as the JSON document the store keeps."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "audience": self.audience,
            "target": {
                "item": self.target.item,
                "references": list(self.target.references),
                "emails": list(self.target.emails),
            },
            "template": {
                "template_name": self.template.template_name,
                "subject": self.template.subject,
                "text": self.template.text,
                "html": self.template.html,
            },
            "from_email": self.from_email,
            "from_name": self.from_name,
            "merge_vars": dict(sorted(self.merge_vars.items())),
        } | self._sms_document()

    def _sms_document(self) -> dict[str, Any]:
        """Only for notices that name channels: a notice recorded before SMS keeps its document."""
        if self.channels == (NoticeChannel.EMAIL,) and self.sms_text is None:
            return {}
        return {"channels": [c.value for c in self.channels], "sms_text": self.sms_text}


def spec_from_document(data: Mapping[str, Any]) -> NoticeSpec:
    """The spec a stored document holds (the inverse of :meth:`NoticeSpec.document`)."""
    target = data["target"]
    template = data["template"]
    return NoticeSpec(
        id=data["id"],
        kind=NoticeKind(data["kind"]),
        audience=data["audience"],
        target=NoticeTarget(
            item=target.get("item"),
            references=tuple(target.get("references", ())),
            emails=tuple(target.get("emails", ())),
        ),
        template=NoticeTemplate(
            template_name=template.get("template_name"),
            subject=template.get("subject"),
            text=template.get("text"),
            html=template.get("html"),
        ),
        from_email=data["from_email"],
        from_name=data.get("from_name"),
        merge_vars=dict(data.get("merge_vars", {})),
        channels=tuple(NoticeChannel(c) for c in data.get("channels", ["email"])),
        sms_text=data.get("sms_text"),
    )


def channels_of(choice: str) -> tuple[NoticeChannel, ...]:
    """``email``, ``sms`` or ``both`` as the channels it names."""
    try:
        return tuple(NoticeChannel(c) for c in CHANNEL_CHOICES[choice.strip().lower()])
    except KeyError:
        raise InputError("channel", f"{choice!r}: one of {', '.join(CHANNEL_CHOICES)}") from None


def check_spec(spec: NoticeSpec) -> None:
    """Refuse a spec that cannot be sent, naming the field; nothing is recorded."""
    if not _ID.match(spec.id):
        raise InputError("id", "1-100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
    target = spec.target
    if not (target.item or target.references or target.emails):
        raise InputError("target", "name an item, references or a file of references/e-mail addresses")
    if not spec.channels or len(set(spec.channels)) != len(spec.channels):
        raise InputError("channel", "email, sms or both")
    if NoticeChannel.SMS in spec.channels:
        body = spec.sms_body()
        if not body or not body.strip():
            raise InputError("sms_text", "an SMS needs a text (--sms-text), or the e-mail's text body")
        if len(body) > SMS_MAX_CHARS:
            raise InputError("sms_text", f"{len(body)} characters; an SMS notice has at most {SMS_MAX_CHARS}")
    if NoticeChannel.EMAIL not in spec.channels:
        _check_merge_names(spec)
        return
    template = spec.template
    if template.template_name is None:
        if not template.subject:
            raise InputError("subject", "needed when no Transactional template is named")
        if not (template.text or template.html):
            raise InputError("text", "a text or HTML body is needed when no template is named")
    elif template.text or template.html:
        raise InputError("template", "give a template name or a body, not both")
    if "@" not in spec.from_email:
        raise InputError("from_email", "the sender's address is needed (transactional.from_email)")
    _check_merge_names(spec)


def _check_merge_names(spec: NoticeSpec) -> None:
    for name in spec.merge_vars:
        if not _MERGE_NAME.match(name):
            raise InputError("merge_vars", f"{name!r} is not a merge field name (A-Z, 0-9, _)")


_MERGE_TAG = re.compile(r"\*\|([A-Z][A-Z0-9_]{0,49})\|\*")


def merge_text(text: str, values: Mapping[str, str]) -> str:
    """``*|NAME|*`` merge tags filled from ``values`` (an unknown tag becomes empty), as Mailchimp's
    merge language does for e-mail; SMS has none of its own, so consent-sync fills the text."""
    return _MERGE_TAG.sub(lambda m: values.get(m.group(1), ""), text)
