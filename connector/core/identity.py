"""Normalised identities: e-mail addresses, phone numbers and the keyed hash used for suppression.

Pure: ``email-validator`` runs without DNS look-ups, ``phonenumbers`` parses offline, the HMAC key is
an argument. ``phonenumbers`` is imported by :func:`normalise_phone` when it runs: most commands never
read a number, and loading its metadata is a noticeable part of a one-contact command's start.
"""

import hashlib
import hmac
from collections.abc import Callable

from email_validator import EmailNotValidError, validate_email


class IdentityError(ValueError):
    """An address or number that cannot be used; the message says why in plain words."""


def normalise_email(text: str) -> str:
    """Trimmed, lower-cased, syntax-checked (no DNS). Mailchimp hashes the lower-cased address too."""
    candidate = text.strip().lower()
    if not candidate:
        raise IdentityError("e-mail address is empty")
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
