"""The Mailchimp sandbox: a local Mailchimp Marketing API v3 for the demo, tests and benchmarks.

A real HTTP server (FastAPI on uvicorn, 127.0.0.1 only) under ``/3.0`` that the official
``mailchimp-marketing`` client uses unchanged (``client.api_client.host = sandbox.base_url``): basic auth
with a key ``anything-<dc>``, problem+json errors, paging and ``fields``/``exclude_fields``; audiences,
merge fields, members (PUT/PATCH/GET/list, archive, delete-permanent) with Mailchimp's status rules
computed by :mod:`connector.core.transitions`; tags per member and as static segments (bulk edits of at
most 500); saved segments over tag conditions; batch subscribe; ``/batches`` with gzipped tar results;
webhooks with a GET check, form-encoded delivery, retries and optional signing. ``/_sandbox/...``
simulates people (unsubscribe, spam complaint, hard bounce, e-mail change, confirmation, admin tag edits)
and exposes stats, the request log, the outbox of double opt-in e-mails (``GET /_sandbox/outbox``, each
with the ``confirm_url`` the person clicks) and a reset.

It also speaks Mailchimp Transactional 1.x under ``/api/1.0`` (and ``/api/1.3``, the official
``mailchimp-transactional`` client's default): ``users/ping``, ``messages/send|send-template|info``,
``templates/add|list|info``, ``rejects/add|list|delete``, ``webhooks/add|list``, ``senders/domains``,
with a reject list, merge tags and ``mc:edit`` regions, signed ``X-Mandrill-Signature`` webhooks, the same
faults and latency; ``/sandbox/transactional/outbox|bounce|domains`` inspect and simulate. The Marketing
side has the Customer Journey trigger (journeys made at ``POST /sandbox/journeys``, sends at
``GET /sandbox/journeys/outbox``). Modules ``transactional_*`` and ``api_journeys``.

Use it in-process::

    from connector.sandbox.knobs import SandboxKnobs
    from connector.sandbox.server import running_sandbox

    with running_sandbox(SandboxKnobs(latency_ms=20)) as sandbox:
        ...  # sandbox.base_url, sandbox.root_url, sandbox.state, sandbox.api_key, sandbox.stats()

or as ``consent-sync sandbox`` (:func:`connector.sandbox.cli.sandbox`).

Modules: ``app`` (``create_app(state, knobs)``), ``api_*`` (routes per resource), ``guard`` (auth,
connection limit, faults, latency, request log), ``state`` and ``persistence`` (memory or ``--state``
SQLite snapshot), ``runtime`` (committing member changes), ``webhook_events`` and ``webhooks``
(payloads and delivery), ``batches``, ``segments``, ``render``, ``shaping``, ``knobs``, ``faults``,
``observations``, ``server``, ``cli``, ``assumptions``.

Assumptions where docs/mailchimp-behaviour.md marks a point UNCONFIRMED (named in
:mod:`connector.sandbox.assumptions`, served at ``GET /_sandbox/assumptions``):

- ``api_unsubscribe_is_compliance_state``: an API or admin unsubscribe blocks a later ``subscribed``
  (400 Member In Compliance State) just like the person's own; only ``pending`` + confirmation returns.
- ``pending_after_unsubscribe_shows_pending``: ``status: pending`` on an unsubscribed member shows
  ``pending`` and sends one simulated confirmation; a cleaned address cannot be set pending.
- ``tag_changes_bump_last_changed``: tag-only changes move ``last_changed``.
- ``since_last_changed_is_inclusive``: the filter keeps members changed at or after the given second.
- ``fake_addresses``: example.com/.net/.org, test.com, mailinator.com, guerrillamail.com and the
  ``.test``/``.invalid``/``.example``/``.localhost`` TLDs answer 400 Invalid Resource ("looks fake").
- ``too_many_requests_title``: 429 bodies are problem+json titled "Too Many Requests".
- ``batch_subscribe_member_tags``: per-member ``tags`` in batch subscribe are arrays of names, added;
  ``sync_tags`` replaces an existing member's tags.
- ``segment_bulk_reports_non_members``: bulk tag edits list addresses not on the audience in
  ``errors[]``; already-tagged (already-untagged) members count as added (removed).
- ``segment_members_default_subscribed_only``: segment member lists and ``member_count`` show only
  subscribed members unless ``include_*`` flags ask for more.
- ``webhook_defaults``: omitted ``events``/``sources`` mean all enabled.
- ``webhook_get_check``: creating a webhook GETs its URL; non-2xx or unreachable answers 400.
- ``webhook_retry_schedule``: retries after 60, 120, 300, 600, 1200, 2220 s (75 min in all) times
  ``webhook_time_scale``; 410 disables the webhook.
- ``webhook_fired_at_utc``: ``fired_at`` is UTC ``YYYY-MM-DD HH:MM:SS``.
- ``webhook_event_mapping``: archive/delete-permanent fire ``unsubscribe`` action=delete; a complaint
  fires ``unsubscribe`` reason=abuse; a hard bounce fires ``cleaned`` reason=hard to every webhook
  listening to ``cleaned`` whatever its sources; confirmation fires ``subscribe``; merge-field and tag
  edits fire ``profile``; an address change fires ``upemail`` then ``profile``.
- ``webhook_signing``: ``--signing-secret`` signs every webhook; otherwise ``signing_enabled: true`` on
  create gets a random secret returned once.
- ``archive_twice_not_found``: archiving an archived member answers 404.
- ``journey_trigger_refusals``: the journey trigger starts subscribed, unsubscribed and
  non-subscribed members and refuses cleaned, archived, pending and unknown ones with 400.
- ``transactional_sandbox``: Transactional's error documents, keys, sending domains, reject expiry,
  HEAD check of webhook URLs.
- ``put_hash_must_match_email``: PUT with an address whose hash differs from the URL answers 400;
  PATCH with a new ``email_address`` changes the address.
- ``unknown_merge_tags_rejected``: unknown merge tags and missing required fields (without
  ``skip_merge_validation``) answer 400 "Your merge fields were invalid.".
- Listing members without ``status`` leaves archived members out (ask ``status=archived``);
  ``unsubscribed_since`` compares with ``last_changed``.
"""
