"""Normalised identities: e-mail addresses, phone numbers and the keyed hash used for suppression.

Pure: ``email-validator`` runs without DNS look-ups, ``phonenumbers`` parses offline, the HMAC key is
an argument. Both are imported when they are needed: a plain address (:func:`plain_address_match`) is
answered without ``email-validator``, and ``phonenumbers`` only by the functions that read a number —
loading either is a noticeable part of a one-contact command's start.
"""

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Final

SPECIAL_USE_DOMAINS: Final = ("arpa", "invalid", "local", "localhost", "onion", "test")
"""``email_validator.SPECIAL_USE_DOMAIN_NAMES``: the special-use domains whose addresses it refuses, copied
so that a plain address is checked without loading the library (tests/core/test_identity.py compares)."""
_PLAIN_ADDRESS = re.compile(
    r"(?=.{1,254}\Z)"  # the whole address at most 254 characters
    r"(?=[^@]{1,64}@)"  # the local part at most 64
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"  # an unquoted ASCII dot-atom (a subset of RFC 5322 atext)
    r"@(?![^@]*--)"  # no "--" in the domain (IDNA "xn--" labels go through the library)
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"  # LDH labels of at most 63 characters
    r"(?!(?:" + "|".join(sorted(re.escape(name) for name in SPECIAL_USE_DOMAINS)) + r")\Z)"
    r"[a-z]{2,63}",  # an alphabetic top-level domain that is not a special-use name
    re.DOTALL,
)
plain_address_match: Final = _PLAIN_ADDRESS.fullmatch
"""``plain_address_match(lowered)`` is not ``None`` for a trimmed, lower-cased, plain ASCII address, one
that email-validator accepts unchanged: the fast path of :func:`normalise_email` and of the importers.
Anything else (quoted or unicode local parts, IDN or numeric domains, trailing dots, special-use domains,
upper case) takes the library (property-tested: tests/core/test_identity.py, ``test_email_fast_path_*``
in tests/imports/test_csv_rows.py)."""


class IdentityError(ValueError):
    """An address or number that cannot be used; the message says why in plain words."""


def normalise_email(text: str) -> str:
    """Trimmed, lower-cased, syntax-checked (no DNS). Mailchimp hashes the lower-cased address too."""
    candidate = text.strip().lower()
    if not candidate:
        raise IdentityError("e-mail address is empty")
    if plain_address_match(candidate):
        return candidate  # what the library answers for a plain address (property-tested)
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise IdentityError(f"not a valid e-mail address: {exc}") from None
    return result.normalized.lower()


def normalise_phone(text: str, default_region: str) -> str:
    """E.164 (``+4791234567``); numbers without a country code get ``default_region``."""
    import phonenumbers

    candidate = text.strip()
    if not candidate:
        raise IdentityError("phone number is empty")
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise IdentityError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise IdentityError(f"not a valid phone number for region {default_region}")
    formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def is_mobile(e164: str) -> bool:
    """Whether an E.164 number is a mobile one (offline metadata); an unparsable one is not.

    Mobile means ``MOBILE`` or ``FIXED_LINE_OR_MOBILE`` in ``phonenumbers``' metadata: some countries do
    not tell the two apart, and an SMS can reach both.
    """
    import phonenumbers

    mobile_types = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in mobile_types


def mask_phone(e164: str) -> str:
    """A number fit for logs and reports: the country code and the last two digits (``+47******67``)."""
    if len(e164) < 6:
        return "***"
    return e164[:3] + "*" * (len(e164) - 5) + e164[-2:]


def address_hash(email: str, key: bytes) -> str:
    """The suppression key of an address: HMAC-SHA256 of the normalised address, hex."""
    return hmac.new(key, email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def address_hasher(key: bytes) -> Callable[[str], str]:
    """:func:`address_hash` with ``key`` set up once, for hashing many addresses (the same hex)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def hashed(email: str) -> str:
        mac = keyed.copy()
        mac.update(email.strip().lower().encode("utf-8"))
        return mac.hexdigest()

    return hashed
