"""Pure cell parsers for import rows: addresses, phone numbers, dates, booleans, amounts, ids, words.

Each parser takes the text of one cell and returns a typed value or raises :class:`CellError` with a
reason fit for a report. E-mail and phone have fast paths for the common shapes that give exactly the
answers of ``email-validator`` and ``phonenumbers``, which handle everything else. No I/O, no clock.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Final, TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from connector.core.identity import SPECIAL_USE_DOMAINS
from connector.core.identity import plain_address_match as plain_address_match
from connector.core.model import Channel, ConsentMethod, RelationshipKind

_T = TypeVar("_T")


class CellError(ValueError):
    """A cell could not be read; the message is the reason, fit for a report."""


_SPECIAL_USE_TLDS: Final = frozenset(SPECIAL_USE_DOMAINS)
PLAIN_ADDRESS_RE2: Final = (
    r"^[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
"""The fast path's address pattern without its lookaheads, for RE2 (Arrow). ``plain_address_match``
accepts exactly the addresses that match it, have at most ``ADDRESS_MAX`` characters and at most
``LOCAL_PART_MAX`` before the ``@``, no ``--`` after it, and a top-level domain not in
``SPECIAL_USE_TLDS`` (property-tested)."""
ADDRESS_MAX: Final = 254
LOCAL_PART_MAX: Final = 64
SPECIAL_USE_TLDS: Final = tuple(sorted(_SPECIAL_USE_TLDS))


def plain_address(text: str) -> str | None:
    """The address of a cell holding a plain ASCII address (trimmed, lower-cased), else ``None``:
    :func:`parse_email` gives the same answer for these, and handles everything else."""
    stripped = text.strip()
    if stripped.isascii():
        lowered = stripped.lower()
        if plain_address_match(lowered):
            return lowered
    return None


def parse_email(text: str) -> str:
    """The address trimmed, syntax-checked (no DNS) and lower-cased, so case variants compare equal."""
    plain = plain_address(text)
    if plain is not None:
        return plain
    stripped = text.strip()
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


NumberShape = tuple[tuple[int, ...], str]
"""The possible lengths (none: any) and the national number pattern of a phonenumbers number type."""


@dataclass(frozen=True, slots=True)
class NationalNumberTest:
    """phonenumbers' validity test for a plain national number of a region, in parts: a number is valid
    when it has the ``general`` shape and the shape of at least one of ``types``. A number has a shape
    when its length is one of the lengths and it fully matches the pattern. ``prefix`` is ``+CC``."""

    general: NumberShape
    types: tuple[NumberShape, ...]
    prefix: str


def _desc_shape(desc: object | None) -> NumberShape | None:
    pattern = getattr(desc, "national_number_pattern", None)
    lengths: tuple[int, ...] = tuple(getattr(desc, "possible_length", None) or ())
    if not pattern or -1 in lengths:
        return None
    return lengths, pattern


def _shape_pattern(shape: NumberShape) -> str:
    lengths, pattern = shape
    if not lengths:
        return f"(?:{pattern})"
    return "(?=(?:" + "|".join(f"\\d{{{n}}}" for n in lengths) + r")\Z)" + f"(?:{pattern})"


@lru_cache(maxsize=32)
def national_number_test(region: str) -> NationalNumberTest | None:
    """phonenumbers' validity test for a plain national number of ``region``, in parts.

    Only for regions without national (trunk) prefixes, where parsing a digit string is the identity;
    everything else takes the full phonenumbers path.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix or metadata.national_prefix_for_parsing:
        return None
    general = _desc_shape(metadata.general_desc)
    types = tuple(t for t in (_desc_shape(getattr(metadata, name, None)) for name in _NUMBER_TYPES) if t)
    if general is None or not types:
        return None
    return NationalNumberTest(general, types, f"+{phonenumbers.country_code_for_region(region)}")


@lru_cache(maxsize=32)
def _national_number_check(region: str) -> tuple[re.Pattern[str], str] | None:
    """A regex equal to phonenumbers' validity test for a plain national number of ``region``, and
    the region's ``+CC`` prefix (see :func:`national_number_test`)."""
    test = national_number_test(region)
    if test is None:
        return None
    types = "|".join(_shape_pattern(shape) for shape in test.types)
    return re.compile(f"(?={_shape_pattern(test.general)}\\Z)(?:{types})"), test.prefix


def fast_national_phone(region: str) -> Callable[[str], str | None]:
    """A function giving the E.164 form of a plain national number of ``region`` (trimmed digits),
    or ``None`` when the number needs :func:`parse_phone`: the per-row fast path, compiled once."""
    check = _national_number_check(region)
    if check is None:
        return lambda _digits: None
    match, prefix = check[0].fullmatch, check[1]

    def fast(digits: str) -> str | None:
        if digits.isdigit() and digits.isascii() and digits[0] != "0" and match(digits):
            return prefix + digits
        return None

    return fast


def national_phone_match(region: str) -> tuple[Callable[[str], object], str] | None:
    """``(match, "+CC")``: ``match(text)`` is truthy exactly when :func:`fast_national_phone` gives
    ``"+CC" + text`` (ASCII digits, no leading 0, a valid national number); ``None`` for a region
    without that fast path. For reading a whole column with ``map``."""
    check = _national_number_check(region)
    if check is None:
        return None
    pattern = re.compile(r"(?=[0-9]+\Z)(?!0)" + check[0].pattern)
    return pattern.fullmatch, check[1]


def _fast_e164(digits: str, region: str) -> str | None:
    check = _national_number_check(region)
    if check is None or digits.startswith("0") or not check[0].fullmatch(digits):
        return None
    return check[1] + digits


def _fast_own_country(compact: str, region: str) -> str | None:
    """``+47…``, ``0047…`` or (a lost ``+``) ``47…`` followed by a valid national number of ``region``:
    what phonenumbers answers for these, without its parser (Excel's floats lose the ``+``)."""
    check = _national_number_check(region)
    if check is None:
        return None
    digits = compact[1:] if compact[:1] == "+" else compact[2:] if compact[:2] == "00" else compact
    code = check[1][1:]
    if not digits.startswith(code):
        return None
    return _fast_e164(digits[len(code) :], region)


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
    fast = _fast_e164(compact, region) or _fast_own_country(compact, region)
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
    "phone": ConsentMethod.PHONE,
    "telephone": ConsentMethod.PHONE,
    "call": ConsentMethod.PHONE,
    "telefon": ConsentMethod.PHONE,
    "email": ConsentMethod.EMAIL,
    "mail": ConsentMethod.EMAIL,
    "epost": ConsentMethod.EMAIL,
    "letter": ConsentMethod.LETTER,
    "post": ConsentMethod.LETTER,
    "brev": ConsentMethod.LETTER,
    "customerservice": ConsentMethod.CUSTOMER_SERVICE,
    "support": ConsentMethod.CUSTOMER_SERVICE,
    "kundeservice": ConsentMethod.CUSTOMER_SERVICE,
    "kundesenter": ConsentMethod.CUSTOMER_SERVICE,
    "inperson": ConsentMethod.IN_PERSON,
    "personally": ConsentMethod.IN_PERSON,
    "personlig": ConsentMethod.IN_PERSON,
    "other": ConsentMethod.OTHER,
    "annet": ConsentMethod.OTHER,
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
    """The method of a grant: a known word, else an error (P6: a grant's evidence is exact)."""
    return _lookup(_METHOD_WORDS, text, "consent method")


def parse_opt_out_method(text: str) -> tuple[ConsentMethod, str | None]:
    """How an opt-out was expressed: any means counts. A word outside the vocabulary is ``other``, with
    the cell's own words (at most 60 characters) to record as evidence; a known word has none."""
    found = _METHOD_WORDS.get(_word(text))
    if found is not None:
        return found, None
    return ConsentMethod.OTHER, " ".join(text.split())[:60]


def parse_relationship_kind(text: str) -> RelationshipKind:
    return _lookup(_KIND_WORDS, text, "relationship kind")


def parse_purposes(text: str) -> tuple[str, ...]:
    """Purpose names, comma/semicolon/pipe separated, in file order without repeats."""
    names = (part.strip().casefold() for part in _CATEGORY_SEPARATORS.split(text))
    return tuple(dict.fromkeys(name for name in names if name))
