"""Import headers: canonical fields, English and Norwegian synonyms, ``--map``, and file kinds.

:func:`map_headers` maps a header row once per file to a :class:`HeaderMap` (which field each column
feeds, what kind of file it is, and the problems that make it unreadable). No I/O.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from connector.core.model import RelationshipKind
from connector.errors import InputError


class FieldName(StrEnum):
    """The canonical fields a column can feed (the right-hand side of ``--map COLUMN=field``)."""

    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    EXTERNAL_ID = "external_id"
    LOCALE = "locale"
    CONSENT = "consent"
    PURPOSE = "purpose"
    CHANNEL = "channel"
    GIVEN_AT = "given_at"
    METHOD = "method"
    SOURCE_REF = "source_ref"
    NOTICE_VERSION = "notice_version"
    CONFIRMED_AT = "confirmed_at"
    IP = "ip"
    RELATIONSHIP_KIND = "relationship_kind"
    ORDER_ID = "order_id"
    SUBSCRIPTION_ID = "subscription_id"
    ACCOUNT_ID = "account_id"
    STARTED_AT = "started_at"
    SERVICE_DATE = "service_date"
    ENDED_AT = "ended_at"
    CATEGORIES = "categories"
    AMOUNT = "amount"
    OPT_OUT_OFFERED = "opt_out_offered"
    ITEM = "item"
    """What the relationship concerns (a concert, a departure, a product): what notices target."""
    STATUS = "status"
    OPTIN_TIME = "optin_time"
    OPTIN_IP = "optin_ip"
    CONFIRM_TIME = "confirm_time"
    CONFIRM_IP = "confirm_ip"
    UNSUB_TIME = "unsub_time"
    UNSUB_CAMPAIGN_TITLE = "unsub_campaign_title"
    UNSUB_CAMPAIGN_ID = "unsub_campaign_id"
    UNSUB_REASON = "unsub_reason"
    UNSUB_REASON_OTHER = "unsub_reason_other"
    CLEAN_TIME = "clean_time"
    CLEAN_CAMPAIGN_TITLE = "clean_campaign_title"
    CLEAN_CAMPAIGN_ID = "clean_campaign_id"


_SYNONYMS: Final[Mapping[FieldName, tuple[str, ...]]] = {
    FieldName.EMAIL: (
        "email", "emailaddress", "epost", "epostadresse", "mail", "mailadresse", "emailadresse", "epostadr",
    ),
    FieldName.PHONE: (
        "phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cellphone", "mobil", "mobilnummer",
        "mobilnr", "telefon", "telefonnummer", "telefonnr", "tlf", "tlfnr", "tel",
    ),
    FieldName.FIRST_NAME: ("firstname", "givenname", "fname", "fornavn"),
    FieldName.LAST_NAME: ("lastname", "surname", "familyname", "lname", "etternavn"),
    FieldName.EXTERNAL_ID: (
        "customerid", "customernumber", "customerno", "externalid", "clientid", "crmid", "kundenummer",
        "kundenr", "kundeid",
    ),
    FieldName.LOCALE: ("locale", "language", "lang", "språk", "sprak", "målform"),
    FieldName.CONSENT: ("consent", "consented", "optin", "samtykke", "markedsføringssamtykke"),
    FieldName.PURPOSE: ("purpose", "purposes", "consentpurpose", "formål", "formal", "samtykkeformål"),
    FieldName.CHANNEL: ("channel", "consentchannel", "kanal"),
    FieldName.GIVEN_AT: (
        "givenat", "consentgivenat", "consentdate", "consentedat", "consenttime", "samtykkedato",
        "samtykketidspunkt", "samtykkegitt", "samtykkegittdato", "gitt",
    ),
    FieldName.METHOD: ("method", "consentmethod", "metode", "samtykkemetode", "innsamlingsmetode"),
    FieldName.SOURCE_REF: ("source", "consentsource", "kilde", "samtykkekilde"),
    FieldName.NOTICE_VERSION: (
        "noticeversion", "privacynoticeversion", "consenttextversion", "textversion", "policyversion",
        "tekstversjon", "samtykketekstversjon", "versjon", "personvernerklæringversjon",
    ),
    FieldName.CONFIRMED_AT: (
        "confirmedat", "confirmationdate", "doubleoptinat", "bekreftet", "bekreftetdato",
    ),
    FieldName.IP: ("ip", "ipaddress", "consentip", "ipadresse"),
    FieldName.RELATIONSHIP_KIND: ("relationship", "relationshipkind", "relasjon", "kundeforhold"),
    FieldName.ORDER_ID: ("orderid", "ordernumber", "orderno", "order", "ordrenummer", "ordrenr", "ordreid"),
    FieldName.SUBSCRIPTION_ID: (
        "subscriptionid", "subscriptionnumber", "subscription", "abonnement", "abonnementsnummer",
        "abonnementsid", "abonnementid", "avtalenummer",
    ),
    FieldName.ACCOUNT_ID: ("accountid", "account", "userid", "username", "brukerid", "brukernavn", "konto"),
    FieldName.STARTED_AT: (
        "purchased", "purchasedat", "purchasedate", "orderdate", "startedat", "startdate", "start",
        "createdat", "created", "registered", "registeredat", "kjøpsdato", "kjøpt", "ordredato", "startdato",
        "opprettet", "registrert",
    ),
    FieldName.SERVICE_DATE: (
        "delivered", "deliveredat", "deliverydate", "servicedate", "returndate", "levert", "leveringsdato",
        "tjenestedato", "returdato", "hjemreise",
    ),
    FieldName.ENDED_AT: (
        "ended", "endedat", "enddate", "cancelled", "cancelledat", "canceled", "closed", "closedat",
        "sluttdato", "avsluttet", "oppsagt", "stengt",
    ),
    FieldName.CATEGORIES: (
        "categories", "category", "productcategories", "productcategory", "kategori", "kategorier",
        "produktkategori", "produktkategorier",
    ),
    FieldName.AMOUNT: ("amount", "total", "ordervalue", "totalamount", "beløp", "belop", "sum", "ordreverdi"),
    FieldName.OPT_OUT_OFFERED: (
        "optoutoffered", "unsubscribeoffered", "reservasjontilbudt", "reservasjonsmulighet", "reservasjon",
    ),
    FieldName.ITEM: (
        "item", "itemid", "event", "eventid", "product", "productid", "sku", "departure", "departureid",
        "arrangement", "produkt", "produktid", "avgang", "forestilling",
    ),
    FieldName.STATUS: ("status", "memberstatus", "mailchimpstatus"),
    FieldName.OPTIN_TIME: ("optintime",),
    FieldName.OPTIN_IP: ("optinip",),
    FieldName.CONFIRM_TIME: ("confirmtime",),
    FieldName.CONFIRM_IP: ("confirmip",),
    FieldName.UNSUB_TIME: ("unsubtime",),
    FieldName.UNSUB_CAMPAIGN_TITLE: ("unsubcampaigntitle",),
    FieldName.UNSUB_CAMPAIGN_ID: ("unsubcampaignid",),
    FieldName.UNSUB_REASON: ("unsubreason",),
    FieldName.UNSUB_REASON_OTHER: ("unsubreasonother",),
    FieldName.CLEAN_TIME: ("cleantime",),
    FieldName.CLEAN_CAMPAIGN_TITLE: ("cleancampaigntitle",),
    FieldName.CLEAN_CAMPAIGN_ID: ("cleancampaignid",),
}  # fmt: skip

_FIELD_BY_HEADER: Final[Mapping[str, FieldName]] = {
    synonym: field for field, synonyms in _SYNONYMS.items() for synonym in synonyms
}

_MAILCHIMP_SYSTEM_HEADERS: Final = frozenset(
    {
        "memberrating", "optintime", "optinip", "confirmtime", "confirmip", "latitude", "longitude",
        "gmtoff", "dstoff", "timezone", "leid", "euid", "lastchanged", "unsubtime", "cleantime",
    }
)  # fmt: skip

_NOT_HEADER_CHARACTERS = re.compile(r"[\W_]+")
IGNORE_WORDS: Final = frozenset({"", "ignore", "-", "none"})


def normalise_header(text: str) -> str:
    """The comparable form of a header: NFKC, case-folded, without spaces, punctuation or a BOM."""
    folded = unicodedata.normalize("NFKC", text.replace("\ufeff", "")).casefold()
    return _NOT_HEADER_CHARACTERS.sub("", folded)


def field_for_header(text: str) -> FieldName | None:
    """The canonical field a header names (English or Norwegian synonym), if any."""
    return _FIELD_BY_HEADER.get(normalise_header(text))


def parse_column_map(specs: Iterable[str]) -> dict[str, FieldName | None]:
    """``--map COLUMN=field`` options as {normalised column: field}; ``=ignore`` (or ``=``) drops one."""
    mapping: dict[str, FieldName | None] = {}
    for spec in specs:
        column, equals, target = spec.rpartition("=")
        if not equals or not column.strip():
            raise InputError("--map", f"{spec!r} is not COLUMN=field")
        mapping[normalise_header(column)] = _map_target(target)
    return mapping


def _map_target(target: str) -> FieldName | None:
    word = target.strip().casefold()
    if word in IGNORE_WORDS:
        return None
    try:
        return FieldName(word)
    except ValueError:
        known = ", ".join(f.value for f in FieldName)
        raise InputError("--map", f"unknown field {target!r}; known fields: {known}, ignore") from None


class RowKind(StrEnum):
    CONTACTS = "contacts"
    CONSENTS = "consents"
    RELATIONSHIPS = "relationships"
    MAILCHIMP_EXPORT = "mailchimp-export"


class MailchimpStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"


_IDENTIFIERS: Final = frozenset({FieldName.EMAIL, FieldName.PHONE, FieldName.EXTERNAL_ID})
_EVIDENCE: Final = (FieldName.GIVEN_AT,)
"""What a consent claim needs besides how it was given; the notice version may be unknown (a legacy list:
recorded as ``unknown``, or ``imports.notice_versions`` for the ``--source``)."""
_EVIDENCE_HOW: Final = frozenset({FieldName.METHOD, FieldName.SOURCE_REF})
_CONSENT_FIELDS: Final = frozenset(
    {
        FieldName.CONSENT,
        FieldName.GIVEN_AT,
        FieldName.METHOD,
        FieldName.NOTICE_VERSION,
        FieldName.CONFIRMED_AT,
    }
)
RELATIONSHIP_ID_FIELDS: Final = {
    FieldName.ORDER_ID: RelationshipKind.PURCHASE,
    FieldName.SUBSCRIPTION_ID: RelationshipKind.SUBSCRIPTION,
    FieldName.ACCOUNT_ID: RelationshipKind.ACCOUNT,
}
_RELATIONSHIP_FIELDS: Final = frozenset(
    {*RELATIONSHIP_ID_FIELDS, FieldName.RELATIONSHIP_KIND, FieldName.STARTED_AT, FieldName.SERVICE_DATE}
)


@dataclass(frozen=True, slots=True)
class HeaderMap:
    """Which canonical field each column feeds (``None``: ignored), and what that makes the file.

    Build it with :func:`map_headers`; the flags are computed once there, not per row.
    """

    headers: tuple[str, ...]
    fields: tuple[FieldName | None, ...]
    kind: RowKind
    has_consent_evidence: bool = False
    has_consent_column: bool = False
    """A consent (yes/no) column: its "no" rows are opt-outs, recorded whatever evidence columns exist."""
    has_relationships: bool = False
    relationship_kind: RelationshipKind | None = None
    """The kind the id columns imply when there is no kind column (exactly one id column)."""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.headers)

    @property
    def has_claims(self) -> bool:
        """Rows may carry more than contact data: consent, an opt-out or a relationship."""
        return self.has_consent_evidence or self.has_consent_column or self.has_relationships

    @property
    def mapped(self) -> frozenset[FieldName]:
        return frozenset(f for f in self.fields if f is not None)

    @property
    def columns(self) -> tuple[tuple[str, FieldName | None], ...]:
        """(file header, canonical field) pairs, for reports."""
        return tuple(zip(self.headers, self.fields, strict=True))

    def column_of(self, field: FieldName) -> str:
        """The file's own header for ``field`` (the canonical name when no column feeds it)."""
        for header, mapped in zip(self.headers, self.fields, strict=True):
            if mapped is field:
                return header
        return field.value


def map_headers(headers: Sequence[str], overrides: Mapping[str, FieldName | None] | None = None) -> HeaderMap:
    """Map a header row through ``--map`` overrides (keys normalised) and the synonym table.

    Problems (a field fed by two columns, no identifying column, an override naming no column) are
    listed in ``problems`` for the reader to raise as one file-level error.
    """
    overrides = overrides or {}
    normalised = tuple(normalise_header(h) for h in headers)
    fields = tuple(overrides[n] if n in overrides else _FIELD_BY_HEADER.get(n) for n in normalised)
    mapped = frozenset(f for f in fields if f is not None)
    kind = detect_kind(normalised, fields)
    problems = (
        *_unknown_override_problems(normalised, overrides),
        *_duplicate_problems(headers, fields),
        *_identifier_problems(headers, mapped),
    )
    return HeaderMap(
        headers=tuple(headers),
        fields=fields,
        kind=kind,
        has_consent_evidence=kind is not RowKind.MAILCHIMP_EXPORT and _has_evidence(mapped),
        has_consent_column=kind is not RowKind.MAILCHIMP_EXPORT and FieldName.CONSENT in mapped,
        has_relationships=kind is not RowKind.MAILCHIMP_EXPORT and bool(mapped & _RELATIONSHIP_FIELDS),
        relationship_kind=_implied_relationship_kind(mapped),
        problems=problems,
        notes=_evidence_notes(kind, mapped),
    )


def _has_evidence(mapped: frozenset[FieldName]) -> bool:
    return all(f in mapped for f in _EVIDENCE) and bool(mapped & _EVIDENCE_HOW)


def _implied_relationship_kind(mapped: frozenset[FieldName]) -> RelationshipKind | None:
    kinds = {kind for field, kind in RELATIONSHIP_ID_FIELDS.items() if field in mapped}
    return kinds.pop() if len(kinds) == 1 else None


def detect_kind(normalised_headers: Sequence[str], fields: Sequence[FieldName | None]) -> RowKind:
    """Mailchimp export (two or more of its system columns), relationships, consents, or contacts."""
    if len(_MAILCHIMP_SYSTEM_HEADERS.intersection(normalised_headers)) >= 2:
        return RowKind.MAILCHIMP_EXPORT
    present = frozenset(f for f in fields if f is not None)
    if present & _RELATIONSHIP_FIELDS:
        return RowKind.RELATIONSHIPS
    if present & _CONSENT_FIELDS:
        return RowKind.CONSENTS
    return RowKind.CONTACTS


def _unknown_override_problems(normalised: Sequence[str], overrides: Mapping[str, object]) -> list[str]:
    return [
        f"--map names column {column!r}, which the file does not have"
        for column in overrides
        if column not in normalised
    ]


def _duplicate_problems(headers: Sequence[str], fields: Sequence[FieldName | None]) -> list[str]:
    columns: dict[FieldName, list[str]] = {}
    for header, field in zip(headers, fields, strict=True):
        if field is not None:
            columns.setdefault(field, []).append(header)
    return [
        f"columns {', '.join(map(repr, names))} all mean {field.value}: "
        "keep one, drop the others with --map COLUMN=ignore"
        for field, names in columns.items()
        if len(names) > 1
    ]


def _identifier_problems(headers: Sequence[str], mapped: frozenset[FieldName]) -> list[str]:
    if mapped & _IDENTIFIERS:
        return []
    shown = ", ".join(repr(h) for h in headers[:12])
    return [f"no e-mail, phone or customer id column among {shown}: name one with --map COLUMN=email"]


def _evidence_notes(kind: RowKind, mapped: frozenset[FieldName]) -> tuple[str, ...]:
    if kind is RowKind.MAILCHIMP_EXPORT or not mapped & _CONSENT_FIELDS:
        return ()
    if _has_evidence(mapped):
        if FieldName.NOTICE_VERSION in mapped:
            return ()
        return (
            "no notice version column: consents are recorded with the notice unknown "
            "(or imports.notice_versions for --source), as policy.legacy_consents decides",
        )
    missing = [f.value for f in _EVIDENCE if f not in mapped]
    if not mapped & _EVIDENCE_HOW:
        missing.append("method or source")
    opt_outs = "; opt-outs (consent = no) are recorded" if FieldName.CONSENT in mapped else ""
    return (
        f"consent columns without evidence (missing {', '.join(missing)}): grants update contacts only"
        + opt_outs,
    )


_STATUS_RANK: Final = {
    MailchimpStatus.SUBSCRIBED: 0,
    MailchimpStatus.UNSUBSCRIBED: 1,
    MailchimpStatus.CLEANED: 2,
}


def status_from_file_name(name: str) -> MailchimpStatus | None:
    """The status a Mailchimp export file name tells: ``subscribed_…``, ``unsubscribed_…``, ``cleaned_…``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].casefold()
    for status in (MailchimpStatus.UNSUBSCRIBED, MailchimpStatus.CLEANED, MailchimpStatus.SUBSCRIBED):
        if base.startswith(status.value):
            return status
    return None


def mailchimp_file_status(header_map: HeaderMap, file_name: str) -> MailchimpStatus | None:
    """The status of every row in a Mailchimp export file, from its header and its name.

    When the two disagree the more restrictive wins (cleaned > unsubscribed > subscribed): rows of an
    unsubscribed or cleaned file are never read as subscribed. ``None`` when nothing tells.
    """
    mapped = header_map.mapped
    signals = [status_from_file_name(file_name)]
    if FieldName.UNSUB_TIME in mapped and FieldName.CLEAN_TIME not in mapped:
        signals.append(MailchimpStatus.UNSUBSCRIBED)
    if FieldName.CLEAN_TIME in mapped and FieldName.UNSUB_TIME not in mapped:
        signals.append(MailchimpStatus.CLEANED)
    known = [s for s in signals if s is not None]
    return max(known, key=_STATUS_RANK.__getitem__) if known else None
