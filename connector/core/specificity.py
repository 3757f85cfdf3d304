"""Which purposes an act of consent covers (DESIGN §3 P2 "specific"), pure.

A purpose that is ``explicit_only`` (``partner_offers`` and any purpose naming its recipients, by
default) is granted only by an act that names it: an API call or form field for it, a CSV purpose column
naming it, a Mailchimp interest mapped to it. A generic act — a CSV row without a purpose column, a
Mailchimp sign-up or export row without a mapped interest — covers only the purposes it may speak for.

Mailchimp groups are purposes: an audience maps interests (by id, or by category and interest name as a
form, a webhook's ``GROUPINGS`` and an export's group columns show them) to purposes. A Mailchimp sign-up
whose groups are known grants exactly the mapped purposes it ticked; one whose groups are unknown (no
mapping, or a source that does not carry them) grants only the audience's ``mailchimp_signup_purposes``,
never an ``explicit_only`` one.

Every purpose of the audience a claim does not cover is named with the reason, for the import report,
the webhook log and ``explain``.
"""

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, model_validator

from connector.core.policy_settings import PolicySettings

NOTICE_UNKNOWN = "unknown"
"""The notice version recorded where nobody knows what the person was shown (a Mailchimp form, a legacy
list): the evidence says so instead of naming a notice nobody wrote."""


class InterestMapping(BaseModel):
    """One Mailchimp interest (a check box of a group) that stands for a purpose.

    ``interest_id`` matches members' ``interests`` and is what sync writes back; ``interest`` (its name)
    with ``category`` (the group's title, the export's column header) matches exports and webhooks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    purpose: str
    interest_id: str | None = None
    interest: str | None = None
    category: str | None = None

    @model_validator(mode="after")
    def _named_somehow(self) -> "InterestMapping":
        if not self.interest_id and not self.interest:
            raise ValueError("an interest mapping needs interest_id or interest (its name)")
        if self.interest and not self.category:
            raise ValueError("an interest named by its name needs its category (the group's title)")
        return self


ANY_CATEGORY = "*"


def comparable(text: str) -> str:
    """A group or interest name as compared: NFKC, case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class Ticked:
    """What a Mailchimp source says about a member's groups.

    ``ids``: interest ids ticked; ``known_ids``: interest ids whose state the source gives (ticked or
    not); ``names``: (category, interest) names ticked; ``categories``: the categories the source shows
    (an export's group columns, a webhook's groupings), all :func:`comparable`.
    """

    ids: frozenset[str] = frozenset()
    known_ids: frozenset[str] = frozenset()
    names: frozenset[tuple[str, str]] = frozenset()
    categories: frozenset[str] = frozenset()

    @classmethod
    def from_interests(cls, interests: Mapping[str, bool]) -> "Ticked":
        """Members' ``interests`` (``{id: true|false}``) as the API returns them."""
        return cls(frozenset(i for i, on in interests.items() if on), frozenset(interests))

    @classmethod
    def from_groups(cls, groups: Iterable[tuple[str, str]]) -> "Ticked":
        """(category, ``"A, B"``) pairs, as export group columns and webhook groupings write them; an
        empty category (a webhook's flat ``merges[INTERESTS]``) stands for any category."""
        names: set[tuple[str, str]] = set()
        categories: set[str] = set()
        for category, cell in groups:
            key = comparable(category) or ANY_CATEGORY
            categories.add(key)
            names.update((key, comparable(part)) for part in cell.split(",") if part.strip())
        return cls(names=frozenset(names), categories=frozenset(categories))

    def knows(self, entry: InterestMapping) -> bool:
        """The source gives this interest's state (its id, or its category's column or grouping)."""
        if entry.interest_id and entry.interest_id in self.known_ids:
            return True
        if entry.interest is None or entry.category is None:
            return False
        return comparable(entry.category) in self.categories or ANY_CATEGORY in self.categories

    def ticks(self, entry: InterestMapping) -> bool:
        if entry.interest_id and entry.interest_id in self.ids:
            return True
        if entry.interest is None or entry.category is None:
            return False
        name = comparable(entry.interest)
        return (comparable(entry.category), name) in self.names or (ANY_CATEGORY, name) in self.names


@dataclass(frozen=True, slots=True)
class Coverage:
    """The purposes a claim grants, and each purpose of the audience it does not, with why."""

    granted: tuple[str, ...]
    not_covered: tuple[tuple[str, str], ...] = ()


def is_explicit_only(policy: PolicySettings, purpose: str) -> bool:
    found = policy.purpose(purpose)
    return found is not None and found.explicit_only


EXPLICIT_ONLY_REASON = "granted only by an act naming this purpose (explicit_only)"


def named(purposes: Sequence[str]) -> Coverage:
    """An act naming its purposes (API, a form field, a CSV purpose column) covers exactly those."""
    return Coverage(tuple(purposes))


def generic(audience_purposes: Sequence[str], policy: PolicySettings, act: str) -> Coverage:
    """An act naming no purpose (``act``: 'a CSV row without a purpose column') covers the audience's
    purposes except the ``explicit_only`` ones."""
    granted = tuple(p for p in audience_purposes if not is_explicit_only(policy, p))
    refused = tuple(
        (p, f"{EXPLICIT_ONLY_REASON}; {act} names none") for p in audience_purposes if p not in granted
    )
    return Coverage(granted, refused)


def mailchimp_sign_up(
    audience_purposes: Sequence[str],
    policy: PolicySettings,
    interests: Sequence[InterestMapping],
    signup_purposes: Sequence[str],
    ticked: Ticked | None,
) -> Coverage:
    """What a Mailchimp sign-up (webhook, export row, member read back) grants in this audience."""
    known = [
        e for e in interests if e.purpose in audience_purposes and ticked is not None and ticked.knows(e)
    ]
    if ticked is not None and known:
        return _by_interests(audience_purposes, policy, known, ticked)
    allowed = [p for p in signup_purposes if p in audience_purposes]
    granted = tuple(p for p in allowed if not is_explicit_only(policy, p))
    refused: list[tuple[str, str]] = []
    for purpose in audience_purposes:
        if purpose in granted:
            continue
        if is_explicit_only(policy, purpose):
            refused.append(
                (
                    purpose,
                    f"{EXPLICIT_ONLY_REASON}; a Mailchimp sign-up without a mapped interest never grants it",
                )
            )
        else:
            shown = ", ".join(allowed) or "none"
            refused.append(
                (
                    purpose,
                    f"a Mailchimp sign-up without groups grants only mailchimp_signup_purposes ({shown})",
                )
            )
    return Coverage(granted, tuple(refused))


def _by_interests(
    audience_purposes: Sequence[str], policy: PolicySettings, known: Sequence[InterestMapping], ticked: Ticked
) -> Coverage:
    granted = tuple(p for p in audience_purposes if any(e.purpose == p and ticked.ticks(e) for e in known))
    refused: list[tuple[str, str]] = []
    for purpose in audience_purposes:
        if purpose in granted:
            continue
        entries = [e for e in known if e.purpose == purpose]
        if entries:
            names = ", ".join(repr(e.interest or e.interest_id) for e in entries)
            refused.append((purpose, f"interest {names} not ticked"))
        elif is_explicit_only(policy, purpose):
            refused.append((purpose, f"{EXPLICIT_ONLY_REASON}; no Mailchimp interest is mapped to it"))
        else:
            refused.append((purpose, "no ticked Mailchimp interest is mapped to it"))
    return Coverage(granted, tuple(refused))
