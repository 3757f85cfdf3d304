"""How Mailchimp changes one member: a pure model shared by the sandbox and the sync engine's tests.

Every function takes the member as Mailchimp holds it (``None`` when the address was never on the
audience), the request, and ``now``; it returns the member Mailchimp would hold afterwards, or a
:class:`Rejection` (the 4xx Mailchimp would answer, as a value). Nothing here does I/O or reads a clock.

Behaviour that docs/mailchimp-behaviour.md marks UNCONFIRMED is a field of :class:`Rules`; the sandbox
names its choice for each in :mod:`connector.sandbox.assumptions`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from connector.core.remote import (
    MemberStatus,
    RemoteMember,
    merge_fields_of,
    normalise_email,
    subscriber_hash,
)

INVALID_RESOURCE = "Invalid Resource"
INVALID_ACTION = "Invalid Action"
COMPLIANCE_STATE = "Member In Compliance State"
FORGOTTEN = "Forgotten Email Not Subscribed"
NOT_FOUND = "Resource Not Found"
MEMBER_EXISTS = "Member Exists"
VALIDATION_DETAIL = (
    "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
)

FAKE_DOMAINS = frozenset(
    {"example.com", "example.net", "example.org", "test.com", "mailinator.com", "guerrillamail.com"}
)
"""Domains Mailchimp rejects as fake-looking ("looks fake or invalid"), as the sandbox models them."""
FAKE_SUFFIXES = (".test", ".invalid", ".example", ".localhost")
"""Reserved top-level domains (RFC 2606) that can never receive mail."""

API_UNSUBSCRIBE_REASON = "N/A (Unsubscribed by an admin)"
PERSON_UNSUBSCRIBE_REASON = "N/A (Unsubscribe link)"
COMPLAINT_UNSUBSCRIBE_REASON = "Abuse report"


class Source(StrEnum):
    """Who caused a change; webhooks filter on it (``sources.user|admin|api``)."""

    USER = "user"
    ADMIN = "admin"
    API = "api"


@dataclass(frozen=True, slots=True)
class Rules:
    """Mailchimp behaviour the API notes leave UNCONFIRMED; defaults are the sandbox's assumptions."""

    api_unsubscribe_is_compliance_state: bool = True
    """An unsubscribe made by the API or an admin blocks a later ``subscribed`` like a person's own."""
    pending_allowed_from_cleaned: bool = False
    """Whether ``pending`` may be set on a cleaned address (assumed not: it is a compliance state)."""
    tag_changes_bump_last_changed: bool = True
    """Whether a tag-only change moves ``last_changed`` (what ``since_last_changed`` filters on)."""
    fake_domains: frozenset[str] = FAKE_DOMAINS
    fake_suffixes: tuple[str, ...] = FAKE_SUFFIXES


DEFAULT_RULES = Rules()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request Mailchimp refuses: its problem title and detail, HTTP status, and offending field."""

    title: str
    detail: str
    status: int = 400
    field: str | None = None
    error_code: str = "ERROR_GENERIC"


Outcome = RemoteMember | Rejection


def compliance_rejection(email: str) -> Rejection:
    detail = (
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed."
    )
    return Rejection(COMPLIANCE_STATE, detail)


def forgotten_rejection(email: str) -> Rejection:
    detail = (
        f"{email} was permanently deleted and cannot be re-imported. "
        "The contact must re-subscribe to get back on the list."
    )
    return Rejection(FORGOTTEN, detail)


def not_found() -> Rejection:
    return Rejection(NOT_FOUND, "The requested resource could not be found.", status=404)


def invalid_field(field: str, detail: str = VALIDATION_DETAIL) -> Rejection:
    return Rejection(INVALID_RESOURCE, detail, field=field)


def check_address(email: str, rules: Rules = DEFAULT_RULES) -> Rejection | None:
    """``Invalid Resource`` for a malformed or fake-looking address, else ``None``."""
    local, at, domain = normalise_email(email).rpartition("@")
    if not at or not local or "." not in domain or " " in email.strip():
        return invalid_field("email_address", "Please provide a valid email address.")
    if domain in rules.fake_domains or domain.endswith(rules.fake_suffixes):
        detail = f"{email} looks fake or invalid, please enter a real email address."
        return Rejection(INVALID_RESOURCE, detail, field="email_address")
    return None


def sends_confirmation(before: RemoteMember | None, after: Outcome) -> bool:
    """Whether Mailchimp e-mails a double opt-in confirmation for this change (never twice in a row)."""
    if not isinstance(after, RemoteMember) or after.status is not MemberStatus.PENDING:
        return False
    return before is None or before.status is not MemberStatus.PENDING


def new_member(
    email: str,
    status: MemberStatus,
    merge_fields: Mapping[str, str],
    now: datetime,
    *,
    tags: frozenset[str] = frozenset(),
    rules: Rules = DEFAULT_RULES,
) -> RemoteMember:
    """A member created by the API with ``status``: what :func:`_with_status` makes of a blank
    transactional member, built in one step (a batch subscribe creates 500 at a time)."""
    return RemoteMember(
        subscriber_hash=subscriber_hash(email),
        email=email.strip(),
        status=status,
        merge_fields=merge_fields_of(merge_fields),
        tags=tags,
        last_changed=now,
        in_compliance_state=_blocks_subscribe(status, Source.API, rules),
        unsubscribe_reason=API_UNSUBSCRIBE_REASON if status is MemberStatus.UNSUBSCRIBED else None,
        timestamp_signup=now,
        timestamp_opt=now if status is MemberStatus.SUBSCRIBED else None,
    )


def upsert(
    member: RemoteMember | None,
    email: str,
    *,
    status: MemberStatus | None,
    status_if_new: MemberStatus | None,
    merge_fields: Mapping[str, str],
    now: datetime,
    rules: Rules = DEFAULT_RULES,
) -> Outcome:
    """``PUT /lists/{id}/members/{hash}``: create with ``status`` or ``status_if_new``; else update.

    An existing member's status changes only when ``status`` is sent, so ``status_if_new`` alone
    neither re-subscribes nor unarchives.
    """
    rejection = check_address(email, rules)
    if rejection is not None:
        return rejection
    if member is not None and member.forgotten:
        return forgotten_rejection(email)
    if member is None:
        return _create(email, status or status_if_new, merge_fields, now, rules)
    updated = merge(member, merge_fields, now)
    return updated if status is None else set_status(updated, status, Source.API, now, rules)


def _create(
    email: str,
    status: MemberStatus | None,
    merge_fields: Mapping[str, str],
    now: datetime,
    rules: Rules,
    tags: frozenset[str] = frozenset(),
) -> Outcome:
    if status is None or status is MemberStatus.ARCHIVED:
        return invalid_field("status_if_new")
    return new_member(email, status, merge_fields, now, tags=tags, rules=rules)


def patch(
    member: RemoteMember | None,
    *,
    email: str | None,
    status: MemberStatus | None,
    merge_fields: Mapping[str, str],
    now: datetime,
    rules: Rules = DEFAULT_RULES,
) -> Outcome:
    """``PATCH /lists/{id}/members/{hash}``: the member must exist; a new ``email`` changes the address."""
    if member is None or member.forgotten:
        return not_found()
    changed: Outcome = member
    if email is not None and normalise_email(email) != normalise_email(member.email):
        changed = change_email(member, email, now, rules)
    if isinstance(changed, Rejection):
        return changed
    changed = merge(changed, merge_fields, now)
    return changed if status is None else set_status(changed, status, Source.API, now, rules)


def merge(member: RemoteMember, merge_fields: Mapping[str, str], now: datetime) -> RemoteMember:
    """Overlay merge-field values; fields not named keep their value."""
    values = merge_fields_of({**member.merge_map, **merge_fields})
    if values == member.merge_fields:
        return member
    return replace(member, merge_fields=values, last_changed=now)


def set_status(
    member: RemoteMember,
    target: MemberStatus,
    source: Source,
    now: datetime,
    rules: Rules = DEFAULT_RULES,
    *,
    reason: str | None = None,
) -> Outcome:
    """Move an existing member to ``target`` as ``source`` asked, enforcing the compliance rules."""
    if target is MemberStatus.ARCHIVED:
        return invalid_field("status")
    if target is member.status:
        return member
    if target is MemberStatus.SUBSCRIBED and member.in_compliance_state:
        return compliance_rejection(member.email)
    if target is MemberStatus.PENDING and _was_cleaned(member) and not rules.pending_allowed_from_cleaned:
        return compliance_rejection(member.email)
    return _with_status(member, target, source, now, rules, reason=reason)


def _was_cleaned(member: RemoteMember) -> bool:
    return MemberStatus.CLEANED in (member.status, member.status_before_archive)


def _blocks_subscribe(status: MemberStatus, source: Source, rules: Rules) -> bool:
    if status is MemberStatus.CLEANED:
        return True
    if status is not MemberStatus.UNSUBSCRIBED:
        return False
    return source is Source.USER or rules.api_unsubscribe_is_compliance_state


def _with_status(
    member: RemoteMember,
    target: MemberStatus,
    source: Source,
    now: datetime,
    rules: Rules,
    *,
    reason: str | None = None,
) -> RemoteMember:
    unsubscribed = target is MemberStatus.UNSUBSCRIBED
    return replace(
        member,
        status=target,
        status_before_archive=None,
        in_compliance_state=member.in_compliance_state or _blocks_subscribe(target, source, rules),
        unsubscribe_reason=(reason or API_UNSUBSCRIBE_REASON) if unsubscribed else None,
        timestamp_opt=now if target is MemberStatus.SUBSCRIBED else member.timestamp_opt,
        last_changed=now,
    )


def change_email(
    member: RemoteMember, new_email: str, now: datetime, rules: Rules = DEFAULT_RULES
) -> Outcome:
    """The member under a new address (and so a new subscriber hash)."""
    rejection = check_address(new_email, rules)
    if rejection is not None:
        return rejection
    return replace(
        member, email=new_email.strip(), subscriber_hash=subscriber_hash(new_email), last_changed=now
    )


def archive(member: RemoteMember | None, now: datetime) -> Outcome:
    """``DELETE /lists/{id}/members/{hash}``: archived, its earlier status remembered."""
    if member is None or not member.is_present:
        return not_found()
    return replace(
        member, status=MemberStatus.ARCHIVED, status_before_archive=member.status, last_changed=now
    )


def delete_permanent(member: RemoteMember | None, now: datetime) -> Outcome:
    """``…/actions/delete-permanent``: only a PII-free tombstone remains, and it refuses every re-add."""
    if member is None or member.forgotten:
        return not_found()
    return RemoteMember(
        subscriber_hash=member.subscriber_hash,
        email="",
        status=MemberStatus.ARCHIVED,
        merge_fields=(),
        tags=frozenset(),
        last_changed=now,
        forgotten=True,
        in_compliance_state=True,
    )


def add_tags(
    member: RemoteMember | None, tags: frozenset[str], now: datetime, rules: Rules = DEFAULT_RULES
) -> Outcome:
    """Tags marked ``active`` (or bulk-added through the tag's static segment)."""
    if member is None or member.forgotten:
        return not_found()
    return _retag(member, member.tags | tags, now, rules)


def remove_tags(
    member: RemoteMember | None, tags: frozenset[str], now: datetime, rules: Rules = DEFAULT_RULES
) -> Outcome:
    """Tags marked ``inactive`` (or bulk-removed through the tag's static segment)."""
    if member is None or member.forgotten:
        return not_found()
    return _retag(member, member.tags - tags, now, rules)


def _retag(member: RemoteMember, tags: frozenset[str], now: datetime, rules: Rules) -> RemoteMember:
    if tags == member.tags:
        return member
    last_changed = now if rules.tag_changes_bump_last_changed else member.last_changed
    return replace(member, tags=tags, last_changed=last_changed)


def batch_subscribe_item(
    member: RemoteMember | None,
    email: str,
    *,
    status: MemberStatus | None,
    merge_fields: Mapping[str, str],
    tags: frozenset[str],
    update_existing: bool,
    sync_tags: bool,
    now: datetime,
    rules: Rules = DEFAULT_RULES,
) -> Outcome:
    """One entry of ``POST /lists/{id}``. An archived member is re-added; a present one needs
    ``update_existing``; ``sync_tags`` replaces an existing member's tags instead of adding."""
    rejection = check_address(email, rules)
    if rejection is not None:
        return rejection
    if member is not None and member.forgotten:
        return forgotten_rejection(email)
    if member is None:
        return _create_tagged(email, status, merge_fields, tags, now, rules)
    if member.is_present and not update_existing:
        return _exists_rejection(email)
    return _update_item(member, status, merge_fields, tags, sync_tags, now, rules)


def _create_tagged(
    email: str,
    status: MemberStatus | None,
    merge_fields: Mapping[str, str],
    tags: frozenset[str],
    now: datetime,
    rules: Rules,
) -> Outcome:
    return _create(email, status, merge_fields, now, rules, tags)


def _exists_rejection(email: str) -> Rejection:
    detail = f"{email} is already a list member. Use PUT to insert or update list members."
    return Rejection(MEMBER_EXISTS, detail, field="email_address", error_code="ERROR_CONTACT_EXISTS")


def _update_item(
    member: RemoteMember,
    status: MemberStatus | None,
    merge_fields: Mapping[str, str],
    tags: frozenset[str],
    sync_tags: bool,
    now: datetime,
    rules: Rules,
) -> Outcome:
    target = status or (member.status_before_archive if member.is_archived else None)
    merged = merge(member, merge_fields, now)
    updated = merged if target is None else set_status(merged, target, Source.API, now, rules)
    if isinstance(updated, Rejection):
        return updated
    return _retag(updated, tags if sync_tags else updated.tags | tags, now, rules)


def confirm(member: RemoteMember | None, now: datetime) -> Outcome:
    """The person clicked the double opt-in link: ``pending`` becomes ``subscribed``, by their own act."""
    if member is None or not member.is_present:
        return not_found()
    if member.status is not MemberStatus.PENDING:
        return Rejection(INVALID_ACTION, "Only a pending member can confirm a sign-up.")
    return replace(
        member,
        status=MemberStatus.SUBSCRIBED,
        in_compliance_state=False,
        unsubscribe_reason=None,
        timestamp_opt=now,
        last_changed=now,
    )


def unsubscribe_by_person(member: RemoteMember | None, now: datetime, *, complaint: bool = False) -> Outcome:
    """The person clicked unsubscribe (or, with ``complaint``, marked a campaign as spam)."""
    if member is None or not member.is_present:
        return not_found()
    if member.status is MemberStatus.CLEANED:
        return Rejection(INVALID_ACTION, "A cleaned member receives no campaigns to unsubscribe from.")
    reason = COMPLAINT_UNSUBSCRIBE_REASON if complaint else PERSON_UNSUBSCRIBE_REASON
    return replace(
        member,
        status=MemberStatus.UNSUBSCRIBED,
        in_compliance_state=True,
        unsubscribe_reason=reason,
        last_changed=now,
    )


def bounce(member: RemoteMember | None, now: datetime) -> Outcome:
    """A hard bounce: the address is cleaned and can never be subscribed again by the API."""
    if member is None or not member.is_present:
        return not_found()
    if member.status is MemberStatus.CLEANED:
        return member
    return replace(member, status=MemberStatus.CLEANED, in_compliance_state=True, last_changed=now)
