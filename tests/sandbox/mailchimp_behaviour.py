"""What Mailchimp is documented (or publicly observed) to do when a member's status is set: a table.

Each row is a small story told in requests — what happened to the address before (``given``), one
request (``then``), and what Mailchimp answers and shows afterwards — with the sources that say so. The
facts, with these sources, are in ``docs/mailchimp-behaviour.md`` (§1.2, §1.4–1.6; source tags as used
there, where each has its public address: ``DOCS`` = Mailchimp's developer documentation repository,
``SPEC`` = Mailchimp's Marketing API spec, ``HELP`` = Mailchimp's help centre, ``ISSUE`` = a public
issue thread showing the request and Mailchimp's answer).

The table is written from those sources, never from our code: ``test_documented_behaviour`` plays each
row against the running sandbox over HTTP, so the sandbox (and through it ``connector.core.transitions``,
which the plan simulator shares) must agree with Mailchimp's documented behaviour, not only with itself.
Behaviour the notes mark UNCONFIRMED (what an API unsubscribe or a cleaned address allows, what ``GET``
shows between a re-opt-in and its click) has no row: the sandbox names its assumption for each in
``connector.sandbox.assumptions``.
"""

from dataclasses import dataclass, field

ADDRESS = "ann.berg@konsert.no"
FAKE_ADDRESS = "ann.berg@example.com"


@dataclass(frozen=True, slots=True)
class Call:
    """One request: ``put``/``patch``/``post`` a member body, ``archive`` (DELETE), ``forget``
    (``actions/delete-permanent``), or a person's act in Mailchimp (``person:unsubscribe``,
    ``person:complain``, ``person:bounce``, ``person:confirm``), played through the sandbox's
    ``/_sandbox`` simulation endpoints."""

    kind: str
    body: dict[str, str] = field(default_factory=dict)
    email: str = ADDRESS


def put(**body: str) -> Call:
    return Call("put", body)


def patch(**body: str) -> Call:
    return Call("patch", body)


def post(**body: str) -> Call:
    return Call("post", body)


ARCHIVE = Call("archive")
FORGET = Call("forget")
UNSUBSCRIBED_BY_PERSON = Call("person:unsubscribe")
COMPLAINED = Call("person:complain")
BOUNCED = Call("person:bounce")
CONFIRMED_BY_PERSON = Call("person:confirm")
SUBSCRIBED = put(status_if_new="subscribed")

COMPLIANCE_STATE = "Member In Compliance State"
COMPLIANCE_DETAIL = (
    "is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed"
)
NOT_FOUND = 404
"""``member_status`` of a row whose address ``GET`` no longer finds."""


@dataclass(frozen=True, slots=True)
class Documented:
    """One documented behaviour: after ``given``, ``then`` is answered ``answer`` (with problem
    ``title`` and a ``detail`` containing the phrase, for a 4xx); ``GET`` then shows ``member_status``
    (or answers 404 for :data:`NOT_FOUND`); ``confirmations`` is how many double opt-in e-mails
    Mailchimp has sent the address by then (``None``: not part of the row)."""

    behaviour: str
    given: tuple[Call, ...]
    then: Call
    answer: int
    sources: tuple[str, ...]
    title: str | None = None
    detail: str | None = None
    member_status: str | int | None = None
    confirmations: int | None = None


SKILL_CONSENT = (
    "DOCS:skill-consent — Mailchimp's consent guide, mailchimp/fern-marketing-api-docs fern/.well-known/ "
    "(https://github.com/mailchimp/fern-marketing-api-docs)"
)
IMPORT_QS = (
    "DOCS:import-qs — 'Import and export contacts' quickstart, mailchimp/fern-marketing-api-docs "
    "fern/docs/pages/building/quickstarts/import-and-export-contacts.mdx"
)
CHANGELOG_2020_08_19 = (
    "DOCS:cl-2020-08-19 — Mailchimp API changelog 2020-08-19 (no duplicate confirmation e-mails for "
    "identical pending requests), mailchimp/fern-marketing-api-docs fern/docs/changelog/2020-08-19-*.mdx"
)
HELP_NON_SUBSCRIBED = "HELP 'About Non-Subscribed Contacts' (Mailchimp help centre)"
HELP_CONTACTS = "HELP 'About Your Contacts' (Mailchimp help centre): cleaned contacts can receive nothing"
SPEC_ARCHIVE = "SPEC Mailchimp Marketing API spec 3.0.85: 'Archive list member' (DELETE …/members/{hash})"
SPEC_STATUS_ENUM = (
    "SPEC Mailchimp Marketing API spec 3.0.85: PUT/PATCH …/members/{hash} `status` enum has no 'archived'"
)
SPEC_DELETE_PERMANENT = (
    "SPEC Mailchimp Marketing API spec 3.0.85: …/actions/delete-permanent 'will make it impossible to "
    "re-import the list member'"
)
COMPLIANCE_ISSUES = (
    "ISSUE https://github.com/ibericode/mailchimp-for-wordpress/issues/798 (2025, full request/response)",
    "ISSUE https://github.com/tbar0970/jethro-pmm/issues/656 (inside a batch result)",
    "ISSUE https://github.com/Setono/SyliusMailchimpPlugin/issues/90",
)
WAY_BACK_ISSUES = (
    "ISSUE https://github.com/beabee-communityrm/monorepo/issues/106",
    "ISSUE https://github.com/forem/forem/issues/6256",
    "ISSUE https://github.com/EvanHerman/yikes-inc-easy-mailchimp-extender/issues/727",
)
ARCHIVED_STATUS_IF_NEW = "ISSUE https://github.com/tbar0970/jethro-pmm/issues/708"
ARCHIVED_SHOWN = "ISSUE https://github.com/brandonseydel/MailChimp.Net/issues/529"
ARCHIVED_READDED = "ISSUE https://github.com/brandonseydel/MailChimp.Net/issues/526"
MEMBER_EXISTS = "ISSUE https://github.com/drewm/mailchimp-api/issues/131"
FORGOTTEN_ISSUES = (
    "ISSUE https://github.com/ibericode/mailchimp-for-wordpress/issues/673 (POST with pending)",
    "ISSUE https://github.com/ibericode/mailchimp-for-wordpress/issues/666",
    "ISSUE https://github.com/tbar0970/jethro-pmm/issues/982",
    "ISSUE https://github.com/brandonseydel/MailChimp.Net/issues/416",
    "ISSUE https://github.com/nztim/mailchimp/issues/31",
)
FAKE_ISSUES = (
    "ISSUE https://github.com/JustFixNYC/tenants2/issues/1554",
    "ISSUE https://github.com/mailchimp/mc-magento2/issues/476",
)

BEHAVIOUR = (
    Documented(
        "a new address PUT with status_if_new=subscribed is subscribed, without a confirmation e-mail",
        given=(),
        then=SUBSCRIBED,
        answer=200,
        member_status="subscribed",
        confirmations=0,
        sources=(SKILL_CONSENT,),
    ),
    Documented(
        "a repeat sign-up (status_if_new only) never overwrites the person's unsubscribe",
        given=(SUBSCRIBED, UNSUBSCRIBED_BY_PERSON),
        then=SUBSCRIBED,
        answer=200,
        member_status="unsubscribed",
        sources=(SKILL_CONSENT,),
    ),
    Documented(
        "a transactional (non-subscribed) contact never becomes subscribed by itself",
        given=(put(status_if_new="transactional"),),
        then=SUBSCRIBED,
        answer=200,
        member_status="transactional",
        sources=(SKILL_CONSENT, HELP_NON_SUBSCRIBED),
    ),
    Documented(
        "pending on a new address: Mailchimp e-mails the double opt-in confirmation",
        given=(),
        then=put(status_if_new="pending"),
        answer=200,
        member_status="pending",
        confirmations=1,
        sources=(SKILL_CONSENT, IMPORT_QS),
    ),
    Documented(
        "an identical repeated PUT with pending sends no second confirmation e-mail",
        given=(put(status_if_new="pending", status="pending"),),
        then=put(status_if_new="pending", status="pending"),
        answer=200,
        member_status="pending",
        confirmations=1,
        sources=(CHANGELOG_2020_08_19,),
    ),
    Documented(
        "opt-out: PATCH status=unsubscribed unsubscribes",
        given=(SUBSCRIBED,),
        then=patch(status="unsubscribed"),
        answer=200,
        member_status="unsubscribed",
        sources=(SKILL_CONSENT,),
    ),
    Documented(
        "PUT status=subscribed on a contact who unsubscribed themselves: 400 Member In Compliance State",
        given=(SUBSCRIBED, UNSUBSCRIBED_BY_PERSON),
        then=put(status_if_new="subscribed", status="subscribed"),
        answer=400,
        title=COMPLIANCE_STATE,
        detail=COMPLIANCE_DETAIL,
        member_status="unsubscribed",
        sources=COMPLIANCE_ISSUES,
    ),
    Documented(
        "PATCH status=subscribed on a contact who unsubscribed themselves: 400 Member In Compliance State",
        given=(SUBSCRIBED, UNSUBSCRIBED_BY_PERSON),
        then=patch(status="subscribed"),
        answer=400,
        title=COMPLIANCE_STATE,
        detail=COMPLIANCE_DETAIL,
        member_status="unsubscribed",
        sources=COMPLIANCE_ISSUES,
    ),
    Documented(
        "PUT status=subscribed on a bounced (cleaned) contact: 400 Member In Compliance State",
        given=(SUBSCRIBED, BOUNCED),
        then=put(status_if_new="subscribed", status="subscribed"),
        answer=400,
        title=COMPLIANCE_STATE,
        detail=COMPLIANCE_DETAIL,
        member_status="cleaned",
        sources=(*COMPLIANCE_ISSUES, HELP_CONTACTS),
    ),
    Documented(
        "PUT status=subscribed on a contact who complained of abuse: 400 Member In Compliance State",
        given=(SUBSCRIBED, COMPLAINED),
        then=put(status_if_new="subscribed", status="subscribed"),
        answer=400,
        title=COMPLIANCE_STATE,
        detail=COMPLIANCE_DETAIL,
        member_status="unsubscribed",
        sources=COMPLIANCE_ISSUES,
    ),
    Documented(
        "the way back in: status=pending for an unsubscribed contact sends the confirmation e-mail",
        given=(SUBSCRIBED, UNSUBSCRIBED_BY_PERSON),
        then=put(status_if_new="pending", status="pending"),
        answer=200,
        confirmations=1,
        sources=WAY_BACK_ISSUES,
    ),
    Documented(
        "the way back in: the person's click on the confirmation makes them subscribed",
        given=(SUBSCRIBED, UNSUBSCRIBED_BY_PERSON, put(status_if_new="pending", status="pending")),
        then=CONFIRMED_BY_PERSON,
        answer=200,
        member_status="subscribed",
        sources=WAY_BACK_ISSUES,
    ),
    Documented(
        "DELETE archives: the API then shows status archived",
        given=(SUBSCRIBED,),
        then=ARCHIVE,
        answer=204,
        member_status="archived",
        sources=(SPEC_ARCHIVE, ARCHIVED_SHOWN),
    ),
    Documented(
        "a PUT with only status_if_new does not unarchive (the contact is not new)",
        given=(SUBSCRIBED, ARCHIVE),
        then=SUBSCRIBED,
        answer=200,
        member_status="archived",
        sources=(ARCHIVED_STATUS_IF_NEW,),
    ),
    Documented(
        "a PUT that sends status unarchives",
        given=(SUBSCRIBED, ARCHIVE),
        then=put(status_if_new="subscribed", status="subscribed"),
        answer=200,
        member_status="subscribed",
        sources=(ARCHIVED_STATUS_IF_NEW,),
    ),
    Documented(
        "re-adding an archived contact with POST works",
        given=(SUBSCRIBED, ARCHIVE),
        then=post(status="subscribed"),
        answer=200,
        member_status="subscribed",
        sources=(ARCHIVED_READDED, SPEC_ARCHIVE),
    ),
    Documented(
        "POST for an address already on the audience: 400 Member Exists",
        given=(SUBSCRIBED,),
        then=post(status="subscribed"),
        answer=400,
        title="Member Exists",
        detail="Use PUT to insert or update list members",
        member_status="subscribed",
        sources=(IMPORT_QS, MEMBER_EXISTS),
    ),
    Documented(
        "archived is only ever returned: a PUT cannot set it",
        given=(SUBSCRIBED,),
        then=put(status_if_new="subscribed", status="archived"),
        answer=400,
        title="Invalid Resource",
        member_status="subscribed",
        sources=(SPEC_STATUS_ENUM,),
    ),
    Documented(
        "after a permanent delete GET answers 404, as for an address never seen",
        given=(SUBSCRIBED,),
        then=FORGET,
        answer=204,
        member_status=NOT_FOUND,
        sources=(SPEC_DELETE_PERMANENT, *FORGOTTEN_ISSUES),
    ),
    Documented(
        "after a permanent delete even pending is refused: 400 Forgotten Email Not Subscribed",
        given=(SUBSCRIBED, FORGET),
        then=put(status_if_new="pending", status="pending"),
        answer=400,
        title="Forgotten Email Not Subscribed",
        detail="was permanently deleted and cannot be re-imported",
        member_status=NOT_FOUND,
        confirmations=0,
        sources=(SPEC_DELETE_PERMANENT, *FORGOTTEN_ISSUES),
    ),
    Documented(
        "a fake-looking address is refused: 400 Invalid Resource, 'looks fake or invalid'",
        given=(),
        then=Call("put", {"status_if_new": "subscribed"}, FAKE_ADDRESS),
        answer=400,
        title="Invalid Resource",
        detail="looks fake or invalid, please enter a real email address",
        sources=FAKE_ISSUES,
    ),
)
