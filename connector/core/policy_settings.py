"""The policy's configuration as plain, frozen values (``[policy]`` in the TOML file).

Pure data: no environment, no files. ``connector.settings`` loads it; the policy receives it.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.core.model import Channel, ConsentMethod


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PurposeSettings(_Frozen):
    """A marketing purpose, the channels it may use, and whether it counts as 'similar products'."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    similar_products: bool = False
    categories: tuple[str, ...] = ()
    """Relationship categories this purpose is similar to; empty means every category."""
    recipients: tuple[str, ...] = ()
    """Who else receives the address for this purpose (the partners named to the person)."""
    explicit_only: bool = False
    """Granted only by an act naming this purpose (default: true for ``partner_offers`` and any purpose
    with ``recipients``); a generic sign-up, a row without a purpose column or a Mailchimp sign-up
    without a mapped interest never grants it."""

    @model_validator(mode="before")
    @classmethod
    def _explicit_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "explicit_only" not in data:
            return {
                **data,
                "explicit_only": data.get("name") == "partner_offers" or bool(data.get("recipients")),
            }
        return data

    def is_similar_to(self, categories: frozenset[str]) -> bool:
        if not self.similar_products:
            return False
        return not self.categories or bool(categories & set(self.categories))


class FollowUpSettings(_Frozen):
    """Days the soft opt-in lasts after a relationship ends (business choices, not law)."""

    purchase: int = Field(default=90, ge=0)
    subscription: int = Field(default=90, ge=0)
    account: int = Field(default=0, ge=0)


class SoftOptInSettings(_Frozen):
    min_order_value: Decimal = Field(default=Decimal(0), ge=0)


def _default_purposes() -> tuple[PurposeSettings, ...]:
    return (
        PurposeSettings(name="newsletter", label="Newsletter", channels=(Channel.EMAIL,)),
        PurposeSettings(
            name="offers",
            label="Offers",
            channels=(Channel.EMAIL, Channel.SMS),
            similar_products=True,
        ),
        PurposeSettings(name="partner_offers", label="Partner offers", channels=(Channel.EMAIL,)),
    )


class PolicySettings(_Frozen):
    purposes: tuple[PurposeSettings, ...] = Field(default_factory=_default_purposes)
    require_double_opt_in: bool = True
    double_opt_in_methods: tuple[ConsentMethod, ...] = (ConsentMethod.FORM,)
    consent_max_age_days: int | None = Field(default=None, ge=1)
    transactional_days_after_service: int = Field(default=30, ge=0)
    trust_mailchimp_signup_forms: bool = False
    legacy_consents: str = "accept"
    """Consents whose notice text is not recorded (Mailchimp forms, legacy lists): ``accept``,
    ``accept-until YYYY-MM-DD`` (counted before that day, UTC) or ``refuse``."""
    mailchimp_erasure: Literal["delete_permanent", "archive"] = "delete_permanent"
    mailchimp_unsubscribe_means: Literal["withdrawal", "objection"] = "withdrawal"
    follow_up: FollowUpSettings = Field(default_factory=FollowUpSettings)
    soft_opt_in: SoftOptInSettings = Field(default_factory=SoftOptInSettings)

    @model_validator(mode="after")
    def _partner_offers_never_similar(self) -> "PolicySettings":
        names = [p.name for p in self.purposes]
        if len(names) != len(set(names)):
            raise ValueError("policy.purposes: purpose names must be unique")
        for purpose in self.purposes:
            if purpose.name == "partner_offers" and purpose.similar_products:
                raise ValueError(
                    "policy.purposes.partner_offers: third-party offers are never similar products"
                )
        return self

    @field_validator("legacy_consents")
    @classmethod
    def _legacy_rule(cls, value: str) -> str:
        text = " ".join(value.split())
        if text in ("accept", "refuse"):
            return text
        match = _ACCEPT_UNTIL.fullmatch(text)
        if match is None:
            raise ValueError('expected "accept", "accept-until YYYY-MM-DD" or "refuse"')
        try:
            datetime.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(f"not a date: {match.group(1)!r}") from None
        return text

    @property
    def legacy_until(self) -> datetime | None:
        """The day (00:00 UTC) from which legacy consents no longer count, for ``accept-until``."""
        match = _ACCEPT_UNTIL.fullmatch(self.legacy_consents)
        return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None

    def purpose(self, name: str) -> PurposeSettings | None:
        return next((p for p in self.purposes if p.name == name), None)


_ACCEPT_UNTIL = re.compile(r"accept-until (\d{4}-\d{2}-\d{2})")
