"""The policy's configuration as plain, frozen values (``[policy]`` in the TOML file).

Pure data: no environment, no files. ``connector.settings`` loads it; the policy receives it.
"""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    def purpose(self, name: str) -> PurposeSettings | None:
        return next((p for p in self.purposes if p.name == name), None)
