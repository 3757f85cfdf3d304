"""Desired state: what one contact should look like in one Mailchimp audience (DESIGN §4).

``build`` turns a contact's entitlement into a :class:`DesiredMember`. Only e-mail marketing is projected
onto Mailchimp; the SMS channel is decided by the policy but served elsewhere.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from connector.core.model import Basis, Channel, Entitlement
from connector.core.remote import MemberStatus, MergeFields, subscriber_hash

Mode = Literal["segments", "strict"]


@dataclass(frozen=True, slots=True)
class AudienceMapping:
    """How one audience carries the policy's decisions: purposes served, tags, merge fields, mode."""

    name: str
    purposes: tuple[str, ...]
    merge_fields: tuple[tuple[str, str], ...] = (("FNAME", "first_name"), ("LNAME", "last_name"))
    tag_prefix: str = "cs:"
    mode: Mode = "segments"
    on_no_entitlement: Literal["archive", "keep"] = "archive"

    def purpose_tag(self, purpose: str) -> str:
        return f"{self.tag_prefix}{purpose}"

    @property
    def transactional_tag(self) -> str:
        return f"{self.tag_prefix}transactional"

    def basis_tag(self, basis: Basis) -> str:
        return f"{self.tag_prefix}basis-{'customer' if basis is Basis.EXISTING_CUSTOMER else 'consent'}"

    @property
    def marketing_tags(self) -> frozenset[str]:
        basis = {self.basis_tag(Basis.CONSENT), self.basis_tag(Basis.EXISTING_CUSTOMER)}
        return frozenset({self.purpose_tag(p) for p in self.purposes} | basis)

    def owns(self, tag: str) -> bool:
        return tag.startswith(self.tag_prefix)

    def purpose_of(self, tag: str) -> str | None:
        name = tag.removeprefix(self.tag_prefix)
        return name if self.owns(tag) and name in self.purposes else None


@dataclass(frozen=True, slots=True)
class ContactProfile:
    """The contact fields a member carries; ``email`` is already normalised."""

    contact_id: str
    email: str
    fields: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class DesiredMember:
    """What one contact should be in one audience. ``present=False`` means: not a member we keep."""

    contact_id: str
    subscriber_hash: str
    email: str
    present: bool
    status: MemberStatus | None
    merge_fields: MergeFields
    tags: frozenset[str]
    marketing_purposes: frozenset[str]
    transactional: bool


def build(profile: ContactProfile, entitlement: Entitlement, mapping: AudienceMapping) -> DesiredMember:
    """The desired member for a contact, from its entitlement."""
    allowed = [
        d
        for d in entitlement.marketing
        if d.allowed and d.channel is Channel.EMAIL and d.purpose in mapping.purposes
    ]
    purposes = shared(frozenset(d.purpose for d in allowed))
    transactional = entitlement.transactional.allowed
    tags = {mapping.purpose_tag(p) for p in purposes} | {mapping.basis_tag(d.basis) for d in allowed}
    if transactional:
        tags.add(mapping.transactional_tag)
    present = bool(purposes) or transactional
    return DesiredMember(
        contact_id=profile.contact_id,
        subscriber_hash=subscriber_hash(profile.email),
        email=profile.email,
        present=present,
        status=desired_status(mapping.mode, bool(purposes), transactional) if present else None,
        merge_fields=_merge_fields(profile, mapping),
        tags=shared(frozenset(tags)),
        marketing_purposes=purposes,
        transactional=transactional,
    )


@functools.lru_cache(maxsize=4096)
def shared(values: frozenset[str]) -> frozenset[str]:
    """One instance per distinct set: a million members share a handful of tag sets (memory, not logic)."""
    return values


def desired_status(mode: Mode, marketing: bool, transactional: bool) -> MemberStatus | None:
    """``segments``: subscribed while reachable at all; ``strict``: subscribed only with marketing."""
    if mode == "segments" or marketing:
        return MemberStatus.SUBSCRIBED if (marketing or transactional) else None
    return MemberStatus.TRANSACTIONAL if transactional else None


def _merge_fields(profile: ContactProfile, mapping: AudienceMapping) -> MergeFields:
    return tuple(sorted((tag, profile.fields.get(field) or "") for tag, field in mapping.merge_fields))
