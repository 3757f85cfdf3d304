"""The privacy page's two e-mails: a fresh personal link, and the double opt-in confirmation of a grant.

Both go to the address we hold, never to one typed in, through Mailchimp Transactional (the route that
reaches a person whatever their marketing status). They are sent in the background, after the answer: the
page says the same whether or not the address is known, and a mail failure is logged without the address.
"""

from collections.abc import Sequence

import structlog

from connector.api.capture import confirmation_link
from connector.mailchimp.transactional_payloads import NoticeMessage, NoticeRecipient
from connector.services.context import AppContext
from connector.services.notice_sending import open_notice_sender
from connector.services.preference_links import link_url
from connector.store.tables import ConsentEventRow

log = structlog.get_logger("connector.api.privacy_mail")

_FRESH = {
    "en": ("Your personal privacy link", "Here is a fresh link to see and change what we hold about you:"),
    "nb": ("Din personlige personvernlenke", "Her er en ny lenke der du ser og endrer det vi har om deg:"),
}
_CONFIRM = {
    "en": ("Please confirm your choice", "Please confirm what you asked for on your privacy page:"),
    "nb": ("Bekreft valget ditt", "Bekreft det du ba om på personvernsiden din:"),
}


def can_mail(ctx: AppContext) -> bool:
    """Whether the configured route can carry these e-mails (Transactional with a sender address)."""
    transactional = ctx.settings.transactional
    return transactional.api_key is not None and bool(transactional.from_email)


def can_confirm(ctx: AppContext) -> bool:
    return can_mail(ctx) and ctx.settings.security.confirmation_key is not None


def send_fresh_link(ctx: AppContext, contact_id: str, email: str, lang: str) -> None:
    """Background task: mail the contact's current link to its stored address."""
    subject, intro = _FRESH.get(lang, _FRESH["en"])
    _send(ctx, email, subject, f"{intro}\n\n{link_url(ctx.settings, contact_id, ctx.now())}\n", "fresh-link")


def send_confirmation(ctx: AppContext, email: str, rows: Sequence[ConsentEventRow], lang: str) -> None:
    """Background task: mail the signed link that confirms exactly these grants (double opt-in)."""
    subject, intro = _CONFIRM.get(lang, _CONFIRM["en"])
    _send(ctx, email, subject, f"{intro}\n\n{confirmation_link(ctx, rows)}\n", "confirmation")


def _send(ctx: AppContext, email: str, subject: str, body: str, kind: str) -> None:
    transactional = ctx.settings.transactional
    if not can_mail(ctx) or transactional.from_email is None:
        log.warning("privacy.mail.no_route", kind=kind)
        return
    message = NoticeMessage(
        subject=subject,
        from_email=transactional.from_email,
        from_name=transactional.from_name,
        text=body,
        metadata={"kind": f"privacy-{kind}"},
        tags=(f"privacy-{kind}",),
        recipients=(NoticeRecipient(email=email),),
    )
    try:
        with open_notice_sender(ctx.settings) as (sender, _journey):
            if sender is None:
                return
            outcomes = sender.send(message)
    except Exception as exc:
        log.error("privacy.mail.failed", kind=kind, error=type(exc).__name__)
        return
    log.info("privacy.mail.sent", kind=kind, status=[str(o.status) for o in outcomes])
