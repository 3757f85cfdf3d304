"""Each audience in Mailchimp: its list, merge fields, the tags and saved segments we keep, the webhook."""

from collections.abc import Iterator

from connector.doctor.report import Check, fail, ok, skip
from connector.errors import MailchimpError
from connector.mailchimp.gateway import MailchimpGateway
from connector.mailchimp.payloads import AudienceInfo, SegmentType, Webhook, WebhookEvent, WebhookSource
from connector.services.preference_links import synced_merge_fields
from connector.settings import AudienceSettings, Settings
from connector.sync.audience import owned_tags, saved_segments
from connector.sync.connect import is_local
from connector.sync.run import mapping_for

WEBHOOK_PATH = "/webhooks/mailchimp/"
NEEDED_EVENTS = frozenset(WebhookEvent) - {WebhookEvent.CAMPAIGN}
NEEDED_SOURCES = frozenset({WebhookSource.USER, WebhookSource.ADMIN})
FIRST_SYNC = "not set up yet: the first sync creates"


def check_audiences(gateway: MailchimpGateway, settings: Settings, account_name: str) -> Iterator[Check]:
    for audience in settings.audiences:
        try:
            yield from _check_audience(gateway, settings, audience, account_name)
        except MailchimpError as exc:
            yield fail(f"audiences.{audience.name}", f"Mailchimp answered {exc}")


def _check_audience(
    gateway: MailchimpGateway, settings: Settings, audience: AudienceSettings, account_name: str
) -> Iterator[Check]:
    subject = f"audiences.{audience.name}.list_id"
    if not audience.list_id:
        if is_local(settings.mailchimp):
            yield skip(subject, "not set: a sync uses the audience it created in the sandbox, or creates one")
        else:
            yield fail(subject, "not set: copy the audience id from Mailchimp (Audience → Settings)")
        return
    found = gateway.find_list(audience.list_id)
    if found is None:
        yield fail(
            subject,
            f"account '{account_name}' has no audience {audience.list_id!r}: copy the id from Mailchimp "
            "(Audience → Settings → Audience name and defaults)",
        )
        return
    yield ok(subject, f"{found.id} is '{found.name}' ({found.member_count} subscribed)")
    yield from _check_contents(gateway, settings, audience, found)
    yield _check_webhook(gateway, settings, audience, found)


def _check_contents(
    gateway: MailchimpGateway, settings: Settings, audience: AudienceSettings, found: AudienceInfo
) -> Iterator[Check]:
    mapping = mapping_for(settings, audience)
    tags = {s.name for s in gateway.segments(found.id, SegmentType.STATIC)}
    saved = {s.name for s in gateway.segments(found.id, SegmentType.SAVED)}
    wanted_tags, wanted_saved = owned_tags(mapping), list(saved_segments(mapping))
    set_up = bool(tags & set(wanted_tags) or saved & set(wanted_saved))
    fields = {f.tag for f in gateway.merge_fields(found.id)}
    base = f"audiences.{audience.name}"
    yield _presence(
        f"{base}.merge_fields", "merge fields", list(synced_merge_fields(settings, audience)), fields, set_up
    )
    wanted = [f"tag {t}" for t in wanted_tags] + [f"saved segment '{n}'" for n in wanted_saved]
    present = {f"tag {t}" for t in tags} | {f"saved segment '{n}'" for n in saved}
    yield _presence(f"{base}.segments", "tags and saved segments", wanted, present, set_up)


def _presence(subject: str, what: str, wanted: list[str], present: set[str], set_up: bool) -> Check:
    missing = [name for name in wanted if name not in present]
    if not missing:
        return ok(subject, f"{len(wanted)} {what} present")
    if not set_up:
        return skip(subject, f"{FIRST_SYNC} {', '.join(missing)}")
    return fail(
        subject,
        f"missing in Mailchimp: {', '.join(missing)} (deleted there?); recreate them in Mailchimp "
        "with these exact names",
    )


def _check_webhook(
    gateway: MailchimpGateway, settings: Settings, audience: AudienceSettings, found: AudienceInfo
) -> Check:
    subject = f"audiences.{audience.name}.webhook"
    secret = settings.webhooks.secret
    if secret is None:
        return skip(subject, "webhooks.secret not set: Mailchimp opt-outs arrive only by reconcile")
    base = settings.consent_capture.public_base_url.rstrip("/") + WEBHOOK_PATH
    shown = base + "<webhooks.secret>"
    hooks = gateway.list_webhooks(found.id)
    ours = [h for h in hooks if h.url.rstrip("/") == base + secret.get_secret_value()]
    if not ours:
        others = (
            " (one points at it with another secret)" if any(h.url.startswith(base) for h in hooks) else ""
        )
        return fail(
            subject,
            f"none registered at {shown}{others}: run `consent-sync webhooks register "
            f"--audience {audience.name} --url {shown}` with the secret filled in",
        )
    return _webhook_settings(subject, ours[0])


def _webhook_settings(subject: str, hook: Webhook) -> Check:
    problems = []
    if WebhookSource.API in hook.sources:
        problems.append("sources.api is on (our own writes echo back as webhooks)")
    if sources := sorted(NEEDED_SOURCES - hook.sources):
        problems.append(f"sources off: {', '.join(sources)}")
    if events := sorted(NEEDED_EVENTS - hook.events):
        problems.append(f"events off: {', '.join(events)}")
    if problems:
        fix = "edit the webhook in Mailchimp (Audience → Settings → Webhooks) or delete it and register again"
        return fail(subject, f"{'; '.join(problems)}: {fix}")
    return ok(subject, "registered at the configured URL (sources: user, admin; api off)")
