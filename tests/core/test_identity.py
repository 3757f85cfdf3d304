"""normalise_email answers plain addresses without email-validator, exactly as the library would."""

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import event, given, settings
from hypothesis import strategies as st

from connector.core.identity import (
    SPECIAL_USE_DOMAINS,
    IdentityError,
    normalise_email,
    plain_address_match,
)


def _library_answer(text: str) -> str | None:
    """What normalise_email answered before its fast path: the library on the lower-cased address."""
    candidate = text.strip().lower()
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def test_the_special_use_domains_are_the_librarys() -> None:
    assert tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES) == SPECIAL_USE_DOMAINS


_LOCAL = st.one_of(
    st.from_regex(r"[A-Za-z0-9_+.-]{1,66}", fullmatch=True),
    st.sampled_from(['"ola nordmann"', "ola..n", ".ola", "ola.", "a" * 64, "a" * 65, "\u212aari", "øla"]),
)
_LABEL = st.one_of(
    st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True),
    st.sampled_from(["xn--blbr-pra", "blåbær", "a" * 63, "a" * 64, "-a", "a-", "a--b", "123"]),
)
_TOP = st.one_of(
    st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True),
    st.sampled_from([*SPECIAL_USE_DOMAINS, "no.", "a", "c0m", "xn--p1ai", "NO"]),
)
_ADDRESSES = st.builds(
    lambda local, labels, top, padding, around: (
        f"{around}{local}@{'.'.join([*labels, *['a' * 63] * padding, top])}{around}"
    ),
    _LOCAL,
    st.lists(_LABEL, min_size=0, max_size=3),
    _TOP,
    st.integers(min_value=0, max_value=4),  # long domains: around 254 and 255 characters
    st.sampled_from(["", " ", "\t", "\u00a0"]),
)


_PLAIN_LOOKING = st.from_regex(r"[A-Za-z0-9_+.-]{1,20}@[A-Za-z0-9.-]{1,20}\.[A-Za-z]{2,6}", fullmatch=True)
"""Mostly addresses the fast path takes, and its near misses (dots, dashes, case)."""


@settings(max_examples=1_000, deadline=None)
@given(st.one_of(_PLAIN_LOOKING, _ADDRESSES, st.text(max_size=30)))
def test_normalise_email_answers_as_the_library(text: str) -> None:
    expected = _library_answer(text)
    event("fast path" if plain_address_match(text.strip().lower()) else "library")
    event("valid" if expected is not None else "refused")
    if expected is None:
        with pytest.raises(IdentityError):
            normalise_email(text)
    else:
        assert normalise_email(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Ola.Hansen@Example.NO ", "ola.hansen@example.no"),
        ("per@blåbær.no", "per@blåbær.no"),
        ("\u212aari@example.no", "kari@example.no"),
    ],
)
def test_normalise_email_examples(text: str, expected: str) -> None:
    assert normalise_email(text) == expected == _library_answer(text)


@pytest.mark.parametrize("text", ["", "   ", "ola", "ola@example", "x@y.test", "ola@server.local"])
def test_normalise_email_refuses_with_a_reason(text: str) -> None:
    with pytest.raises(IdentityError, match="e-mail address"):
        normalise_email(text)
