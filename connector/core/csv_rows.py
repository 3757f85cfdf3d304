"""Pure reading of import rows: cell parsers, header synonyms, file kinds, and row interpretation.

The reader (``connector.imports.reader``) does the I/O and hands each row's cells here; :func:`interpret`
turns them into a typed :class:`ParsedRow` or a :class:`RowError` that names file, line, column and
reason. Nothing here opens files or reads the clock.

P6 (DESIGN §3): a row carries a :class:`ConsentClaim` only when it has the evidence columns (given-at,
method or source, notice version); the claim records whether the import's ``--source`` must attest it.
Mailchimp exports carry Mailchimp's own opt-in evidence (``OPTIN_TIME``/``CONFIRM_TIME``), withdrawals
(``UNSUB_TIME``) and bounces (``CLEAN_TIME``). Naive timestamps are read as UTC (Mailchimp's export zone
is unconfirmed, API-NOTES §9.1).
"""

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Final, TypeVar

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from connector.core.model import Channel, ConsentMethod, RelationshipKind, SuppressionReason
from connector.errors import InputError

_T = TypeVar("_T")


class CellError(ValueError):
    """A cell could not be read; the message is the reason, fit for a report."""


# ---------------------------------------------------------------------------------------------------
# Cell parsers


_EMAIL_FAST = re.compile(
    r"(?=[^@]{1,64}@)[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_USE_TLDS: Final = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _is_plain_address(lowered: str) -> bool:
    """A cheap check that accepts only addresses email-validator also accepts unchanged."""
    return (
        len(lowered) <= 254
        and _EMAIL_FAST.fullmatch(lowered) is not None
        and "--" not in lowered.partition("@")[2]
        and lowered.rpartition(".")[2] not in _SPECIAL_USE_TLDS
    )


def parse_email(text: str) -> str:
    """The address trimmed, syntax-checked (no DNS) and lower-cased, so case variants compare equal."""
    stripped = text.strip()
    if stripped.isascii():
        lowered = stripped.lower()
        if _is_plain_address(lowered):
            return lowered
    try:
        checked = validate_email(stripped, check_deliverability=False)
    except EmailNotValidError as error:
        raise CellError(f"not a valid e-mail address: {error}") from None
    return str(checked.normalized).lower()


_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ()\-./\u00a0\u202f]+")
_PHONE_SEPARATORS = re.compile(r"[ ()\-./\u00a0\u202f]")
_EXCEL_WHOLE_FLOAT = re.compile(r"(\d+)[.,]0+")
_EXCEL_SCIENTIFIC = re.compile(r"(\d)(?:[.,](\d+))?[eE]\+?(\d{1,2})")


def _undo_excel_number(text: str) -> str:
    """Digits Excel turned into ``4791234567.0`` or ``4.79123E+10``; other text unchanged."""
    whole = _EXCEL_WHOLE_FLOAT.fullmatch(text)
    if whole:
        return whole.group(1)
    scientific = _EXCEL_SCIENTIFIC.fullmatch(text)
    if scientific is None:
        return text
    mantissa = scientific.group(1) + (scientific.group(2) or "")
    needed = int(scientific.group(3)) + 1
    if len(mantissa) < needed:
        raise CellError(
            f"{text} is in scientific notation and lost digits (Excel): "
            "format the column as text before saving"
        )
    if mantissa[needed:].strip("0"):
        raise CellError(f"{text} is not a whole number")
    return mantissa[:needed]


_NUMBER_TYPES: Final = (  # any match makes a number valid; the common types first, for speed
    "mobile",
    "fixed_line",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _desc_pattern(desc: object | None) -> str | None:
    pattern = getattr(desc, "national_number_pattern", None)
    lengths: tuple[int, ...] = tuple(getattr(desc, "possible_length", None) or ())
    if not pattern or -1 in lengths:
        return None
    if not lengths:
        return f"(?:{pattern})"
    return "(?=(?:" + "|".join(f"\\d{{{n}}}" for n in lengths) + r")\Z)" + f"(?:{pattern})"


@lru_cache(maxsize=32)
def _national_number_check(region: str) -> tuple[re.Pattern[str], str] | None:
    """A regex equal to phonenumbers' validity test for a plain national number of ``region``, and
    the region's ``+CC`` prefix.

    Only for regions without national (trunk) prefixes, where parsing a digit string is the identity;
    everything else takes the full phonenumbers path.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix or metadata.national_prefix_for_parsing:
        return None
    general = _desc_pattern(metadata.general_desc)
    types = [p for p in (_desc_pattern(getattr(metadata, name, None)) for name in _NUMBER_TYPES) if p]
    if general is None or not types:
        return None
    pattern = re.compile(f"(?={general}\\Z)(?:{'|'.join(types)})")
    return pattern, f"+{phonenumbers.country_code_for_region(region)}"


def _fast_e164(digits: str, region: str) -> str | None:
    check = _national_number_check(region)
    if check is None or digits.startswith("0") or not check[0].fullmatch(digits):
        return None
    return check[1] + digits


def _full_e164(compact: str, region: str) -> str | None:
    candidates = [compact] if compact.startswith("+") else [compact, "+" + compact]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def parse_phone(text: str, region: str) -> str:
    """The number in E.164, repairing Excel damage: floats, exact scientific notation, a lost ``+``.

    A national number gets ``region``; digits that only make sense with a lost ``+`` or ``00`` are read
    as international. Scientific notation that lost digits is rejected, never padded with zeros.
    """
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit():
        fast = _fast_e164(stripped, region)
        if fast is not None:
            return fast
    stripped = _undo_excel_number(stripped)
    if not _PHONE_CHARACTERS.fullmatch(stripped):
        raise CellError(f"not a phone number: {text.strip()!r}")
    compact = _PHONE_SEPARATORS.sub("", stripped)
    fast = _fast_e164(compact, region)
    if fast is not None:
        return fast
    full = _full_e164(compact, region)
    if full is None:
        raise CellError(f"not a valid phone number (default region {region}): {text.strip()!r}")
    return full


_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?")
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXCEL_SERIAL = re.compile(r"(\d{5})(?:[.,](\d+))?")
_EXCEL_EPOCH: Final = datetime(1899, 12, 30, tzinfo=UTC)
_EXCEL_SERIALS: Final = range(10_000, 80_000)


def _dotted_date(match: re.Match[str]) -> datetime:
    day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _iso_date(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _excel_serial_date(match: re.Match[str]) -> datetime:
    days = int(match.group(1))
    if days not in _EXCEL_SERIALS:
        raise CellError(f"{match.group(0)} is not a plausible Excel date number")
    fraction = Decimal("0." + (match.group(2) or "0"))
    seconds = int((fraction * 86_400).to_integral_value())
    return _EXCEL_EPOCH + timedelta(days=days, seconds=seconds)


def parse_date(text: str) -> datetime:
    """A UTC moment from ``dd.mm.yyyy``, ``yyyy-mm-dd``, ISO date-times, Mailchimp's
    ``YYYY-MM-DD HH:MM:SS`` (read as UTC) or an Excel date number (1900 system)."""
    stripped = text.strip()
    try:
        dotted = _DOTTED_DATE.fullmatch(stripped)
        if dotted:
            return _dotted_date(dotted)
        if _ISO_START.match(stripped):
            return _iso_date(stripped)
        serial = _EXCEL_SERIAL.fullmatch(stripped)
        if serial:
            return _excel_serial_date(serial)
    except (ValueError, OverflowError) as error:
        if isinstance(error, CellError):
            raise
        raise CellError(f"no such date: {stripped!r} ({error})") from None
    raise CellError(
        f"unrecognised date {stripped!r}: use dd.mm.yyyy, yyyy-mm-dd, an ISO date-time or an Excel date"
    )


_TRUE_WORDS: Final = frozenset({"ja", "j", "yes", "y", "true", "sann", "1", "x", "✓", "✔"})
_FALSE_WORDS: Final = frozenset({"nei", "n", "no", "false", "usann", "0"})


def parse_bool(text: str) -> bool | None:
    """Ja/Nei/Yes/No/True/False/1/0/x (Excel's ``1.0`` too); ``None`` for a blank cell."""
    word = _undo_excel_number(text.strip()).casefold()
    if not word:
        return None
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise CellError(f"not a yes/no value: {text.strip()!r} (use Ja/Nei, Yes/No, 1/0 or x)")


_CATEGORY_SEPARATORS = re.compile(r"[,;|\n]")


def parse_categories(text: str) -> frozenset[str]:
    """Categories (or tags) split on ``,`` ``;`` ``|`` or newlines, trimmed, unquoted, lower-cased."""
    parts = (part.strip().strip('"').strip().casefold() for part in _CATEGORY_SEPARATORS.split(text))
    return frozenset(part for part in parts if part)


_AMOUNT = re.compile(
    r"(?:kr\.?|nok|sek|dkk|eur|usd|[$€£])?\s*(-?\d[\d\s.,'\u00a0\u202f]*?)\s*(?:,-|kr\.?|nok|sek|dkk|eur|usd|[$€£])?",
    re.IGNORECASE,
)
_DIGIT_GROUPS = re.compile(r"\d{1,3}(?:[ '.,]\d{3})+")


def _amount_number(body: str) -> str:
    """``1 234,50`` / ``1.234,50`` / ``1,234.50`` / ``1234.50`` as ``1234.50``; ambiguous forms raise."""
    body = re.sub(r"[\s\u00a0\u202f']", "", body)
    last_dot, last_comma = body.rfind("."), body.rfind(",")
    decimal_at = max(last_dot, last_comma)
    if decimal_at == -1:
        return body
    separator = body[decimal_at]
    decimals = body[decimal_at + 1 :]
    whole = body[:decimal_at]
    other = "," if separator == "." else "."
    if len(decimals) == 3 and body.count(separator) == 1 and other not in body:
        raise CellError(f"ambiguous amount {body!r}: write 1234.50 or 1 234,50")
    if len(decimals) == 3 and other not in body:
        return whole.replace(separator, "") + decimals
    return whole.replace(other, "") + "." + decimals


def parse_amount(text: str) -> Decimal:
    """An amount written ``1 234,50``, ``1234.50``, ``1.234,50``, ``kr 199,-`` … as a Decimal."""
    stripped = text.strip()
    match = _AMOUNT.fullmatch(stripped)
    if match is None:
        raise CellError(f"not an amount: {stripped!r}")
    try:
        return Decimal(_amount_number(match.group(1)))
    except InvalidOperation:
        raise CellError(f"not an amount: {stripped!r}") from None


def parse_identifier(text: str) -> str:
    """A customer, order or account id, undoing Excel's ``12345.0``; scientific notation that lost
    digits is rejected."""
    stripped = text.strip()
    if stripped.isascii() and stripped.isalnum() and not _EXCEL_SCIENTIFIC.fullmatch(stripped):
        return stripped
    return _undo_excel_number(stripped)


_CHANNEL_WORDS: Final = {
    "email": Channel.EMAIL,
    "epost": Channel.EMAIL,
    "mail": Channel.EMAIL,
    "sms": Channel.SMS,
    "mobil": Channel.SMS,
    "mobile": Channel.SMS,
    "tekstmelding": Channel.SMS,
}

_METHOD_WORDS: Final = {
    "form": ConsentMethod.FORM,
    "webform": ConsentMethod.FORM,
    "web": ConsentMethod.FORM,
    "skjema": ConsentMethod.FORM,
    "nettskjema": ConsentMethod.FORM,
    "signup": ConsentMethod.FORM,
    "checkout": ConsentMethod.CHECKOUT,
    "kasse": ConsentMethod.CHECKOUT,
    "nettbutikk": ConsentMethod.CHECKOUT,
    "instore": ConsentMethod.IN_STORE,
    "store": ConsentMethod.IN_STORE,
    "butikk": ConsentMethod.IN_STORE,
    "api": ConsentMethod.API,
    "import": ConsentMethod.IMPORT,
    "mailchimp": ConsentMethod.MAILCHIMP,
}

_KIND_WORDS: Final = {
    "purchase": RelationshipKind.PURCHASE,
    "order": RelationshipKind.PURCHASE,
    "kjøp": RelationshipKind.PURCHASE,
    "ordre": RelationshipKind.PURCHASE,
    "subscription": RelationshipKind.SUBSCRIPTION,
    "abonnement": RelationshipKind.SUBSCRIPTION,
    "account": RelationshipKind.ACCOUNT,
    "konto": RelationshipKind.ACCOUNT,
    "bruker": RelationshipKind.ACCOUNT,
    "brukerkonto": RelationshipKind.ACCOUNT,
}


def _word(text: str) -> str:
    return re.sub(r"[\s_\-.]", "", text).casefold()


def _lookup(words: Mapping[str, _T], text: str, what: str) -> _T:
    found = words.get(_word(text))
    if found is None:
        raise CellError(f"unknown {what} {text.strip()!r} (expected one of: {', '.join(sorted(words))})")
    return found


def parse_channel(text: str) -> Channel:
    return _lookup(_CHANNEL_WORDS, text, "channel")


def parse_method(text: str) -> ConsentMethod:
    return _lookup(_METHOD_WORDS, text, "consent method")


def parse_relationship_kind(text: str) -> RelationshipKind:
    return _lookup(_KIND_WORDS, text, "relationship kind")


def parse_purposes(text: str) -> tuple[str, ...]:
    """Purpose names, comma/semicolon/pipe separated, in file order without repeats."""
    names = (part.strip().casefold() for part in _CATEGORY_SEPARATORS.split(text))
    return tuple(dict.fromkeys(name for name in names if name))


# ---------------------------------------------------------------------------------------------------
# Headers


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
_EVIDENCE: Final = (FieldName.GIVEN_AT, FieldName.NOTICE_VERSION)
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
_RELATIONSHIP_IDS: Final = {
    FieldName.ORDER_ID: RelationshipKind.PURCHASE,
    FieldName.SUBSCRIPTION_ID: RelationshipKind.SUBSCRIPTION,
    FieldName.ACCOUNT_ID: RelationshipKind.ACCOUNT,
}
_RELATIONSHIP_FIELDS: Final = frozenset(
    {*_RELATIONSHIP_IDS, FieldName.RELATIONSHIP_KIND, FieldName.STARTED_AT, FieldName.SERVICE_DATE}
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
    has_relationships: bool = False
    relationship_kind: RelationshipKind | None = None
    """The kind the id columns imply when there is no kind column (exactly one id column)."""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.headers)

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
        has_relationships=kind is not RowKind.MAILCHIMP_EXPORT and bool(mapped & _RELATIONSHIP_FIELDS),
        relationship_kind=_implied_relationship_kind(mapped),
        problems=problems,
        notes=_evidence_notes(kind, mapped),
    )


def _has_evidence(mapped: frozenset[FieldName]) -> bool:
    return all(f in mapped for f in _EVIDENCE) and bool(mapped & _EVIDENCE_HOW)


def _implied_relationship_kind(mapped: frozenset[FieldName]) -> RelationshipKind | None:
    kinds = {kind for field, kind in _RELATIONSHIP_IDS.items() if field in mapped}
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
    if kind is RowKind.MAILCHIMP_EXPORT or not mapped & _CONSENT_FIELDS or _has_evidence(mapped):
        return ()
    missing = [f.value for f in _EVIDENCE if f not in mapped]
    if not mapped & _EVIDENCE_HOW:
        missing.append("method or source")
    return (f"consent columns without evidence (missing {', '.join(missing)}): rows update contacts only",)


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


# ---------------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True, slots=True)
class ContactRow:
    """Contact data of one row; ``email`` is trimmed and lower-cased, ``phone`` is E.164."""

    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    external_id: str | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class ConsentClaim:
    """Consent the row says was given, with its evidence (P6).

    ``source`` is the import's ``--source``; ``source_required`` says whether the claim may only be
    stored when it is given (true for CSV evidence columns; false for Mailchimp's own opt-in records,
    which the importer gates like sign-up webhooks). Empty ``purposes`` means the audience's purposes.
    """

    purposes: tuple[str, ...]
    channel: Channel
    given_at: datetime
    method: ConsentMethod
    notice_version: str | None
    confirmed_at: datetime | None
    ip: str | None
    source: str | None
    source_required: bool
    confirm_ip: str | None = None
    source_ref: str | None = None

    @property
    def attested(self) -> bool:
        return self.source is not None or not self.source_required


@dataclass(frozen=True, slots=True)
class WithdrawalClaim:
    """An opt-out; ``at`` is ``None`` when the file does not date it (the importer uses the import time)."""

    at: datetime | None
    campaign: str | None = None
    campaign_id: str | None = None
    reason: str | None = None
    channel: Channel = Channel.EMAIL
    purposes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UndeliverableClaim:
    """The address bounced (Mailchimp ``cleaned``): undeliverable, and suppressed."""

    at: datetime | None
    campaign: str | None = None
    campaign_id: str | None = None
    suppression: SuppressionReason = SuppressionReason.CLEANED


@dataclass(frozen=True, slots=True)
class RelationshipClaim:
    kind: RelationshipKind
    reference: str | None
    started_at: datetime
    service_date: datetime | None
    ended_at: datetime | None
    categories: frozenset[str]
    amount: Decimal | None
    opt_out_offered: bool


@dataclass(frozen=True, slots=True)
class ParsedRow:
    file: str
    line: int
    contact: ContactRow
    consent: ConsentClaim | None = None
    withdrawal: WithdrawalClaim | None = None
    undeliverable: UndeliverableClaim | None = None
    relationship: RelationshipClaim | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not read; ``line`` is the physical line the row starts on."""

    file: str
    line: int
    column: str | None
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def as_input_error(self) -> InputError:
        return InputError(self.where, self.reason)


class _BadCellError(Exception):
    def __init__(self, field: FieldName, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


_Values = Mapping[FieldName | None, str]


def _text(values: _Values, field: FieldName) -> str | None:
    return values.get(field, "").strip() or None


def _parsed(values: _Values, field: FieldName, parse: Callable[[str], _T]) -> _T | None:
    text = values.get(field, "").strip()
    if not text:
        return None
    try:
        return parse(text)
    except CellError as error:
        raise _BadCellError(field, str(error)) from None


def _phone(values: _Values, region: str) -> str | None:
    text = values.get(FieldName.PHONE, "").strip()
    if not text:
        return None
    try:
        return parse_phone(text, region)
    except CellError as error:
        raise _BadCellError(FieldName.PHONE, str(error)) from None


def _contact(values: _Values, region: str) -> ContactRow:
    get = values.get
    return ContactRow(
        _parsed(values, FieldName.EMAIL, parse_email),
        _phone(values, region),
        get(FieldName.FIRST_NAME, "").strip() or None,
        get(FieldName.LAST_NAME, "").strip() or None,
        _parsed(values, FieldName.EXTERNAL_ID, parse_identifier),
        get(FieldName.LOCALE, "").strip() or None,
    )


def _column_count_problem(width: int, cells: Sequence[str]) -> str | None:
    if len(cells) == width:
        return None
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        return None
    return f"expected {width} columns, found {len(cells)}"


def interpret(
    header_map: HeaderMap,
    cells: Sequence[str],
    line: int,
    kind: RowKind,
    source: str | None,
    *,
    file: str = "<input>",
    region: str = "NO",
    mailchimp_status: MailchimpStatus | None = None,
) -> ParsedRow | RowError:
    """One data row as typed claims, or the reason it cannot be read.

    ``mailchimp_status`` is the file-level status of a Mailchimp export (see :func:`mailchimp_file_status`);
    a status column, when present, decides per row.
    """
    width = len(header_map.headers)
    if len(cells) != width:
        problem = _column_count_problem(width, cells)
        if problem is not None:
            return RowError(file, line, None, problem)
    values: dict[FieldName | None, str] = dict(zip(header_map.fields, cells, strict=False))
    try:
        if kind is RowKind.MAILCHIMP_EXPORT:
            return _mailchimp_row(values, file, line, region, source, mailchimp_status)
        contact = _contact(values, region)
        if contact.email is None and contact.phone is None and contact.external_id is None:
            return RowError(file, line, None, "no e-mail, phone or customer id")
        return _csv_row(header_map, values, file, line, contact, source)
    except _BadCellError as bad:
        return RowError(file, line, header_map.column_of(bad.field), bad.reason)


def _csv_row(
    header_map: HeaderMap, values: _Values, file: str, line: int, contact: ContactRow, source: str | None
) -> ParsedRow:
    if not header_map.has_consent_evidence and not header_map.has_relationships:
        return ParsedRow(file, line, contact)
    consent, withdrawal, notes = (
        _consent_part(values, source) if header_map.has_consent_evidence else (None, None, ())
    )
    relationship = (
        _relationship(values, header_map.relationship_kind) if header_map.has_relationships else None
    )
    return ParsedRow(file, line, contact, consent, withdrawal, None, relationship, notes)


_ConsentPart = tuple[ConsentClaim | None, WithdrawalClaim | None, tuple[str, ...]]


def _consent_part(values: _Values, source: str | None) -> _ConsentPart:
    given_at = _parsed(values, FieldName.GIVEN_AT, parse_date)
    notice_version = _text(values, FieldName.NOTICE_VERSION)
    method = _parsed(values, FieldName.METHOD, parse_method)
    source_ref = _text(values, FieldName.SOURCE_REF)
    agreed = _parsed(values, FieldName.CONSENT, parse_bool)
    if given_at is None or notice_version is None or (method is None and source_ref is None):
        if agreed is None and given_at is None and notice_version is None:
            return None, None, ()
        return None, None, ("consent not recorded: this row lacks given-at, method/source or notice version",)
    purposes = _parsed(values, FieldName.PURPOSE, parse_purposes) or ()
    channel = _parsed(values, FieldName.CHANNEL, parse_channel) or Channel.EMAIL
    if agreed is False:
        return (
            None,
            WithdrawalClaim(given_at, reason="consent column says no", channel=channel, purposes=purposes),
            (),
        )
    claim = ConsentClaim(
        purposes=purposes,
        channel=channel,
        given_at=given_at,
        method=method or ConsentMethod.IMPORT,
        notice_version=notice_version,
        confirmed_at=_parsed(values, FieldName.CONFIRMED_AT, parse_date),
        ip=_text(values, FieldName.IP),
        source=source,
        source_required=True,
        source_ref=source_ref,
    )
    return claim, None, ()


def _relationship(values: _Values, implied: RelationshipKind | None) -> RelationshipClaim | None:
    reference = (
        _parsed(values, FieldName.ORDER_ID, parse_identifier)
        or _parsed(values, FieldName.SUBSCRIPTION_ID, parse_identifier)
        or _parsed(values, FieldName.ACCOUNT_ID, parse_identifier)
    )
    started_at = _parsed(values, FieldName.STARTED_AT, parse_date)
    if reference is None and started_at is None:
        return None
    if started_at is None:
        raise _BadCellError(FieldName.STARTED_AT, "a relationship needs its start (purchase, created) date")
    kind = _parsed(values, FieldName.RELATIONSHIP_KIND, parse_relationship_kind) or _kind_from_ids(
        values, implied
    )
    return RelationshipClaim(
        kind=kind,
        reference=reference,
        started_at=started_at,
        service_date=_parsed(values, FieldName.SERVICE_DATE, parse_date),
        ended_at=_parsed(values, FieldName.ENDED_AT, parse_date),
        categories=_parsed(values, FieldName.CATEGORIES, parse_categories) or frozenset(),
        amount=_parsed(values, FieldName.AMOUNT, parse_amount),
        opt_out_offered=bool(_parsed(values, FieldName.OPT_OUT_OFFERED, parse_bool)),
    )


def _kind_from_ids(values: _Values, implied: RelationshipKind | None) -> RelationshipKind:
    for field, kind in _RELATIONSHIP_IDS.items():
        if values.get(field, "").strip():
            return kind
    if implied is not None:
        return implied
    if FieldName.SERVICE_DATE in values:
        return RelationshipKind.PURCHASE
    raise _BadCellError(
        FieldName.RELATIONSHIP_KIND, "cannot tell purchase, subscription or account: add a kind column"
    )


_STATUS_WORDS: Final = {s.value: s for s in MailchimpStatus}


def _row_status(values: _Values, file_status: MailchimpStatus | None) -> MailchimpStatus | str:
    explicit = _text(values, FieldName.STATUS)
    if explicit is not None:
        return _STATUS_WORDS.get(explicit.casefold(), explicit)
    if file_status is not None:
        return file_status
    if _text(values, FieldName.CLEAN_TIME):
        return MailchimpStatus.CLEANED
    if _text(values, FieldName.UNSUB_TIME):
        return MailchimpStatus.UNSUBSCRIBED
    return MailchimpStatus.SUBSCRIBED


def _softly(read: Callable[[], _T | None], notes: list[str]) -> _T | None:
    """``read()``, or ``None`` with a note when its cell is bad: an opt-out row is never dropped for a
    damaged side column."""
    try:
        return read()
    except _BadCellError as bad:
        notes.append(f"{bad.field.value} ignored: {bad.reason}")
        return None


def _mailchimp_contact(values: _Values, email: str, region: str, notes: list[str]) -> ContactRow:
    return ContactRow(
        email,
        _softly(lambda: _phone(values, region), notes),
        _text(values, FieldName.FIRST_NAME),
        _text(values, FieldName.LAST_NAME),
        _softly(lambda: _parsed(values, FieldName.EXTERNAL_ID, parse_identifier), notes),
        _text(values, FieldName.LOCALE),
    )


def _mailchimp_row(
    values: _Values,
    file: str,
    line: int,
    region: str,
    source: str | None,
    file_status: MailchimpStatus | None,
) -> ParsedRow | RowError:
    email = _parsed(values, FieldName.EMAIL, parse_email)
    if email is None:
        return RowError(file, line, None, "Mailchimp export row without an e-mail address")
    notes: list[str] = []
    contact = _mailchimp_contact(values, email, region, notes)
    status = _row_status(values, file_status)
    if status is MailchimpStatus.UNSUBSCRIBED:
        withdrawal = _mailchimp_withdrawal(values, notes)
        return ParsedRow(file, line, contact, withdrawal=withdrawal, notes=tuple(notes))
    if status is MailchimpStatus.CLEANED:
        undeliverable = _mailchimp_undeliverable(values, notes)
        return ParsedRow(file, line, contact, undeliverable=undeliverable, notes=tuple(notes))
    if status is not MailchimpStatus.SUBSCRIBED:
        notes.append(f"Mailchimp status {status!r}: contact data only")
        return ParsedRow(file, line, contact, notes=tuple(notes))
    consent = _mailchimp_consent(values, source, notes)
    if consent is None:
        notes.append("subscribed without OPTIN_TIME or CONFIRM_TIME: no consent evidence")
    return ParsedRow(file, line, contact, consent=consent, notes=tuple(notes))


def _mailchimp_consent(values: _Values, source: str | None, notes: list[str]) -> ConsentClaim | None:
    optin_at = _softly(lambda: _parsed(values, FieldName.OPTIN_TIME, parse_date), notes)
    confirmed_at = _softly(lambda: _parsed(values, FieldName.CONFIRM_TIME, parse_date), notes)
    given_at = optin_at or confirmed_at
    if given_at is None:
        return None
    return ConsentClaim(
        purposes=(),
        channel=Channel.EMAIL,
        given_at=given_at,
        method=ConsentMethod.MAILCHIMP,
        notice_version=None,
        confirmed_at=confirmed_at,
        ip=_text(values, FieldName.OPTIN_IP),
        source=source,
        source_required=False,
        confirm_ip=_text(values, FieldName.CONFIRM_IP),
    )


def _mailchimp_withdrawal(values: _Values, notes: list[str]) -> WithdrawalClaim:
    reasons = (_text(values, FieldName.UNSUB_REASON), _text(values, FieldName.UNSUB_REASON_OTHER))
    return WithdrawalClaim(
        at=_softly(lambda: _parsed(values, FieldName.UNSUB_TIME, parse_date), notes),
        campaign=_text(values, FieldName.UNSUB_CAMPAIGN_TITLE),
        campaign_id=_text(values, FieldName.UNSUB_CAMPAIGN_ID),
        reason=": ".join(r for r in reasons if r) or None,
    )


def _mailchimp_undeliverable(values: _Values, notes: list[str]) -> UndeliverableClaim:
    return UndeliverableClaim(
        at=_softly(lambda: _parsed(values, FieldName.CLEAN_TIME, parse_date), notes),
        campaign=_text(values, FieldName.CLEAN_CAMPAIGN_TITLE),
        campaign_id=_text(values, FieldName.CLEAN_CAMPAIGN_ID),
    )
