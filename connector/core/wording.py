"""Plain words for decisions (P8): what a marketer and a lawyer both understand."""

from datetime import datetime

from connector.core.model import (
    Channel,
    ConsentEvent,
    ConsentMethod,
    Decision,
    Entitlement,
    Relationship,
    RelationshipKind,
)
from connector.core.policy_settings import PolicySettings

_SOURCE_LABELS = {
    "mailchimp": "Mailchimp",
    "mailchimp-webhook": "Mailchimp",
    "cli": "staff (command line)",
    "admin-api": "staff (admin API)",
    "form": "sign-up form",
    "consent-form": "sign-up form",
    "repermission": "re-permission campaign",
}

_METHOD_LABELS = {
    ConsentMethod.FORM: "sign-up form",
    ConsentMethod.CHECKOUT: "checkout",
    ConsentMethod.IN_STORE: "in store",
    ConsentMethod.API: "API",
    ConsentMethod.IMPORT: "import",
    ConsentMethod.MAILCHIMP: "Mailchimp",
    ConsentMethod.PHONE: "phone",
    ConsentMethod.EMAIL: "e-mail",
    ConsentMethod.LETTER: "letter",
    ConsentMethod.CUSTOMER_SERVICE: "customer service",
    ConsentMethod.IN_PERSON: "in person",
    ConsentMethod.OTHER: "other means",
}

_CHANNEL_LABELS = {Channel.EMAIL: "e-mail", Channel.SMS: "SMS"}


def channel_label(channel: Channel) -> str:
    return _CHANNEL_LABELS[channel]


def day(moment: datetime) -> str:
    return moment.date().isoformat()


def source_label(source: str) -> str:
    if source.startswith("import:"):
        return f"import from {source.removeprefix('import:')}"
    return _SOURCE_LABELS.get(source, source)


def describe_source(event: ConsentEvent) -> str:
    """How an event reached us, e.g. 'Mailchimp unsubscribe link (campaign 42ab)'."""
    if event.method is ConsentMethod.MAILCHIMP:
        label = "Mailchimp unsubscribe link" if event.action.value == "withdrawn" else "Mailchimp"
    else:
        label = _METHOD_LABELS[event.method]
        if event.source and source_label(event.source) != label:
            label = f"{label}, {source_label(event.source)}"
    return f"{label} ({event.source_ref})" if event.source_ref else label


def describe_relationship(relationship: Relationship) -> str:
    match relationship.kind:
        case RelationshipKind.PURCHASE:
            return _describe_purchase(relationship)
        case RelationshipKind.SUBSCRIPTION:
            return _describe_ongoing("subscription", relationship)
        case RelationshipKind.ACCOUNT:
            return _describe_ongoing("account", relationship)
    raise AssertionError(f"unhandled relationship kind {relationship.kind!r}")


def _describe_purchase(relationship: Relationship) -> str:
    name = f"order {relationship.reference}" if relationship.reference else "a purchase"
    if relationship.item:
        name += f" for {relationship.item}"
    text = f"{name} of {day(relationship.started_at)}"
    if relationship.service_date is not None:
        text += f", delivered/served {day(relationship.service_date)}"
    return text


def _describe_ongoing(kind: str, relationship: Relationship) -> str:
    name = f"{kind} {relationship.reference}" if relationship.reference else kind
    if relationship.item:
        name += f" for {relationship.item}"
    if relationship.ended_at is not None:
        return f"{name} ended {day(relationship.ended_at)}"
    return f"{name} active since {day(relationship.started_at)}"


def decision_sentence(decision: Decision, settings: PolicySettings) -> str:
    """'Offers by e-mail: allowed until 2027-02-14 — existing customer, order 8812 …'."""
    purpose = settings.purpose(decision.purpose)
    label = purpose.label if purpose is not None else decision.purpose
    head = f"{label} by {_CHANNEL_LABELS[decision.channel]}: "
    if decision.allowed:
        head += f"allowed until {day(decision.valid_until)}" if decision.valid_until else "allowed"
    else:
        head += "denied"
    return f"{head} — {decision.reason} [{decision.rule.value}]"


def transactional_sentence(entitlement: Entitlement) -> str:
    decision = entitlement.transactional
    if not decision.allowed:
        return f"Transactional notices: denied — {decision.reason} [{decision.rule.value}]"
    until = f" until {day(decision.valid_until)}" if decision.valid_until else ""
    return (
        f"Transactional notices: allowed{until} — {decision.reason}; "
        f"opt-outs of marketing never stop these [{decision.rule.value}]"
    )


def explanation(entitlement: Entitlement, settings: PolicySettings) -> list[str]:
    """Every decision of an entitlement as a sentence, then when it is next reviewed."""
    lines = [decision_sentence(d, settings) for d in entitlement.marketing]
    lines.append(transactional_sentence(entitlement))
    if entitlement.next_review_at is not None:
        lines.append(f"Next change expected: {day(entitlement.next_review_at)} (without new data)")
    return lines
