"""Desired state: what one contact should look like in one Mailchimp audience (docs/mailchimp-mapping.md).

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
    interests: tuple[tuple[str, str], ...] = ()
    """(Mailchimp interest id, purpose): the group check boxes sync keeps ticked iff the purpose is
    allowed by consent (never by soft opt-in: a ticked box read back would look like consent)."""

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

    def owned(self, tags: frozenset[str]) -> frozenset[str]:
        """Our tags among ``tags``."""
        return _prefixed(self.tag_prefix, tags)

    def purpose_of(self, tag: str) -> str | None:
        name = tag.removeprefix(self.tag_prefix)
        return name if self.owns(tag) and name in self.purposes else None


@functools.lru_cache(maxsize=4096)
def _prefixed(prefix: str, tags: frozenset[str]) -> frozenset[str]:
    """The tags carrying ``prefix``; members carry one of a few tag sets, so each is worked out once."""
    return frozenset(t for t in tags if t.startswith(prefix))


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
    opted_out: frozenset[str] = frozenset()
    """The audience's purposes the person opted out of by e-mail (a recorded act, not a lapsed basis):
    removals for these are never held back by the destructive guard."""
    interests: tuple[tuple[str, bool], ...] = ()
    """The mapped interests as (id, ticked), sorted; empty when the audience maps none."""


def build(profile: ContactProfile, entitlement: Entitlement, mapping: AudienceMapping) -> DesiredMember:
    """The desired member for a contact, from its entitlement."""
    allowed = tuple(
        [
            (d.purpose, d.basis)
            for d in entitlement.marketing
            if d.allowed and d.channel is Channel.EMAIL and d.purpose in mapping.purposes
        ]
    )
    transactional = entitlement.transactional.allowed
    projected = project(mapping, allowed, transactional)
    opted_out = tuple(
        [
            d.purpose
            for d in entitlement.marketing
            if not d.allowed and d.channel is Channel.EMAIL and d.purpose in mapping.purposes and d.opted_out
        ]
    )
    return DesiredMember(
        profile.contact_id,
        subscriber_hash(profile.email),
        profile.email,
        projected.present,
        projected.status,
        _merge_fields(profile, mapping),
        projected.tags,
        projected.purposes,
        transactional,
        shared(frozenset(opted_out)) if opted_out else frozenset(),
        _interests(mapping, allowed) if mapping.interests else (),
    )


@functools.lru_cache(maxsize=4096)
def _interests(
    mapping: AudienceMapping, allowed: tuple[tuple[str, Basis], ...]
) -> tuple[tuple[str, bool], ...]:
    consented = {purpose for purpose, basis in allowed if basis is Basis.CONSENT}
    ticked: dict[str, bool] = {}
    for interest_id, purpose in mapping.interests:
        ticked[interest_id] = ticked.get(interest_id, False) or purpose in consented
    return tuple(sorted(ticked.items()))


@dataclass(frozen=True, slots=True)
class Projection:
    """What a member's entitlement comes to in an audience: membership, status, purposes and tags."""

    present: bool
    status: MemberStatus | None
    purposes: frozenset[str]
    tags: frozenset[str]


@functools.lru_cache(maxsize=4096)
def project(
    mapping: AudienceMapping, allowed: tuple[tuple[str, Basis], ...], transactional: bool
) -> Projection:
    """What the allowed e-mail purposes (with their bases) and transactional notices come to.

    A function of a handful of values that a million members share: worked out once per distinct
    combination, one shared value each (which also keeps the tag sets shared).
    """
    purposes = frozenset(purpose for purpose, _ in allowed)
    tags = {mapping.purpose_tag(p) for p in purposes} | {mapping.basis_tag(basis) for _, basis in allowed}
    if transactional:
        tags.add(mapping.transactional_tag)
    present = bool(purposes) or transactional
    status = desired_status(mapping.mode, bool(purposes), transactional) if present else None
    return Projection(present, status, shared(purposes), shared(frozenset(tags)))


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
    fields = profile.fields
    return tuple(sorted([(tag, fields.get(field) or "") for tag, field in mapping.merge_fields]))
