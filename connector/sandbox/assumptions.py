"""Where docs/mailchimp-behaviour.md says UNCONFIRMED, the sandbox picks the documented-looking behaviour.

Here, by name.

Member-state choices live in :class:`connector.core.transitions.Rules` (so the sync engine's property
tests model Mailchimp with the same code); :data:`MEMBER_RULES` spells them out. Everything else the
HTTP layer assumes is a constant below. :data:`ASSUMPTIONS` lists them all, with a reason, for the
package docstring, ``GET /_sandbox/assumptions`` and the tests.
"""

from dataclasses import dataclass
from typing import Final

from connector.core.transitions import FAKE_DOMAINS, FAKE_SUFFIXES, Rules

MEMBER_RULES: Final = Rules(
    api_unsubscribe_is_compliance_state=True,
    pending_allowed_from_cleaned=False,
    tag_changes_bump_last_changed=True,
    fake_domains=FAKE_DOMAINS,
    fake_suffixes=FAKE_SUFFIXES,
)

TOO_MANY_REQUESTS_TITLE: Final = "Too Many Requests"
TOO_MANY_REQUESTS_DETAIL: Final = "You have exceeded the limit of 10 simultaneous connections."
WEBHOOK_RETRY_DELAYS_S: Final = (60.0, 120.0, 300.0, 600.0, 1200.0, 2220.0)
"""Seconds before each retry of a failed webhook delivery: 7 attempts spread over 75 minutes."""
WEBHOOK_DEFAULT_EVENTS: Final = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
"""Events enabled when a webhook is created without ``events``: all of them."""
WEBHOOK_DEFAULT_SOURCES: Final = ("user", "admin", "api")
"""Sources enabled when a webhook is created without ``sources``: all of them."""
SEGMENT_MEMBERS_DEFAULT_STATUSES: Final = frozenset({"subscribed"})
"""Segment member lists and ``member_count`` show only subscribed members unless ``include_*`` asks."""
MAX_PENDING_BATCHES: Final = 500
MAX_BATCH_SUBSCRIBE_MEMBERS: Final = 500
MAX_SEGMENT_BULK_EMAILS: Final = 500


@dataclass(frozen=True, slots=True)
class Assumption:
    name: str
    choice: str
    notes: str


ASSUMPTIONS: Final = (
    Assumption(
        "api_unsubscribe_is_compliance_state",
        "An unsubscribe made by the API or an admin is a compliance state too: a later `subscribed` "
        "answers 400 Member In Compliance State; only `pending` plus the person's confirmation returns.",
        "mailchimp-behaviour §1.5, 15.3 (observed both ways; the strict choice never lets a sync rely on it)",
    ),
    Assumption(
        "pending_after_unsubscribe_shows_pending",
        "PUT/PATCH `status: pending` on an unsubscribed member shows `pending` until the person confirms; "
        "it sends one simulated confirmation. A cleaned address cannot be set pending (compliance state).",
        "mailchimp-behaviour §1.5, 15.2",
    ),
    Assumption(
        "tag_changes_bump_last_changed",
        "Adding or removing a tag moves the member's `last_changed`.",
        "mailchimp-behaviour §1.7, 15.4",
    ),
    Assumption(
        "since_last_changed_is_inclusive",
        "`since_last_changed` keeps members changed at or after the given second.",
        "mailchimp-behaviour §1.7",
    ),
    Assumption(
        "fake_addresses",
        f"Addresses at {', '.join(sorted(FAKE_DOMAINS))} or ending in {', '.join(FAKE_SUFFIXES)} "
        "answer 400 Invalid Resource ('looks fake or invalid').",
        "mailchimp-behaviour §1.5",
    ),
    Assumption(
        "too_many_requests_title",
        f"The 429 body is problem+json with title '{TOO_MANY_REQUESTS_TITLE}'.",
        "mailchimp-behaviour §7, 15.1",
    ),
    Assumption(
        "batch_subscribe_member_tags",
        "Batch subscribe takes per-member `tags` as an array of names; they are added to new and existing "
        "members, and replace an existing member's tags when `sync_tags` is true.",
        "mailchimp-behaviour §2, 15.5",
    ),
    Assumption(
        "segment_bulk_reports_non_members",
        "Bulk tag edits report addresses not on the audience in `errors[]`; an address that already has "
        "(or already lacks) the tag is reported as added (or removed).",
        "mailchimp-behaviour §3",
    ),
    Assumption(
        "segment_members_default_subscribed_only",
        "Segment member lists and `member_count` include only subscribed members unless "
        "`include_unsubscribed` / `include_cleaned` / `include_transactional` are true.",
        "mailchimp-behaviour §4",
    ),
    Assumption(
        "webhook_defaults",
        "A webhook created without `events` or `sources` gets all of them enabled.",
        "mailchimp-behaviour §6.1, 15.6",
    ),
    Assumption(
        "webhook_get_check",
        "Creating a list webhook GETs its URL first; a non-2xx or unreachable URL answers 400.",
        "mailchimp-behaviour §6.1, 15.6",
    ),
    Assumption(
        "webhook_retry_schedule",
        f"Failed deliveries are retried after {', '.join(f'{d:g}' for d in WEBHOOK_RETRY_DELAYS_S)} s "
        "(75 minutes in all), scaled by --webhook-time-scale; 410 disables the webhook.",
        "mailchimp-behaviour §6.2",
    ),
    Assumption(
        "webhook_fired_at_utc",
        "`fired_at` is UTC, formatted 'YYYY-MM-DD HH:MM:SS'.",
        "mailchimp-behaviour §6.3, 15.7",
    ),
    Assumption(
        "webhook_event_mapping",
        "archive and delete-permanent fire `unsubscribe` with action=delete; a spam complaint fires "
        "`unsubscribe` with reason=abuse; a hard bounce fires `cleaned` with reason=hard and is delivered "
        "whatever the webhook's sources; a confirmed sign-up fires `subscribe`; merge-field and tag edits "
        "fire `profile`; a changed address fires `upemail` then `profile`.",
        "mailchimp-behaviour §6.3",
    ),
    Assumption(
        "webhook_signing",
        "With --signing-secret every webhook is signed with it; otherwise a webhook created with "
        "`signing_enabled: true` gets a random secret, returned once in the create response.",
        "mailchimp-behaviour §6.4, 15.10",
    ),
    Assumption(
        "archive_twice_not_found",
        "Archiving an archived member answers 404 Resource Not Found.",
        "mailchimp-behaviour §1.6",
    ),
    Assumption(
        "put_hash_must_match_email",
        "PUT with an `email_address` whose hash differs from the URL's answers 400 Invalid Resource; "
        "PATCH with a new `email_address` changes the address.",
        "mailchimp-behaviour §1.3",
    ),
    Assumption(
        "member_list_excludes_archived",
        "Listing members without `status` leaves archived members out (ask `status=archived`); "
        "`unsubscribed_since` compares with `last_changed`.",
        "mailchimp-behaviour §1.7",
    ),
    Assumption(
        "unknown_merge_tags_rejected",
        "Merge tags the audience does not define answer 400 Invalid Resource "
        "('Your merge fields were invalid.'), as do missing required fields without skip_merge_validation.",
        "mailchimp-behaviour §1.5, 9.3",
    ),
    Assumption(
        "journey_trigger_refusals",
        "The Customer Journey trigger starts subscribed, unsubscribed and non-subscribed (`transactional`) "
        "members (204) and refuses cleaned, archived and pending members and addresses not in the "
        "journey's audience with 400 Bad Request; an unknown journey or step answers 404.",
        "mailchimp-behaviour §10.1 (the reference names no status condition; help pages say who can "
        "receive transactional e-mail; the exact refusal is undocumented)",
    ),
    Assumption(
        "transactional_sandbox",
        "Transactional errors are HTTP 500 `{status: error, code, name, message}`; any non-empty key is "
        "valid unless `transactional_keys` lists keys; every sending domain is verified unless set "
        "otherwise at /sandbox/transactional/domains; rejects expire as API-NOTES §10 says (soft 24 h, "
        "hard 7 d, spam/unsub 1 y, custom never); a new webhook URL must answer HEAD with 200.",
        "mailchimp-behaviour §10; Mandrill's client libraries (error names)",
    ),
)
