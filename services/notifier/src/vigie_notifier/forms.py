"""The customer-information form (design §1): what a technician fills in before a template goes.

It replaces the old tool's form, whose warning "do not put an apostrophe" is gone: the text
for the customer may hold any character; it is kept as typed, with line breaks normalised
and invisible control characters dropped, and the templates escape it where needed.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie_notifier.headers import DIRECTION_MARKS
from vigie_notifier.recipients import Recipient, parse_recipients

__all__ = ["MAX_TEXT", "Channel", "CommunicationContext", "CustomerInformation", "clean_text"]

MAX_TEXT: Final = 5000
"""Characters of text for the customer: a long mail, far more than any SMS should carry."""

_KEPT: Final = frozenset("\n\t")


class Channel(StrEnum):
    """How a template reaches people."""

    MAIL = "mail"
    SMS = "sms"


class CommunicationContext(StrEnum):
    """Why the customer is told: free information, or a freeze of the GTR clock."""

    FREE = "free"
    GTR_FREEZE = "gtr_freeze"


def clean_text(value: str) -> str:
    """Free text as typed, with CR/LF and CR as LF, and control or direction marks dropped."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n")
    kept = (
        char
        for char in text
        if char in _KEPT or (unicodedata.category(char) != "Cc" and char not in DIRECTION_MARKS)
    )
    return "".join(kept).strip()


class CustomerInformation(BaseModel):
    """The form: grouped outage, context, text, channels, recipients, chain to closure.

    ``recipients`` takes the team's ``NAME, phone, email;`` list as typed (each mistake is
    reported with its entry and character) or already-parsed recipients.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    grouped_outage: bool = Field(description="The incident is part of a collective outage")
    context: CommunicationContext = CommunicationContext.FREE
    freeze_start: AwareDatetime | None = Field(
        default=None, description="GTR freeze only: when the clock stops (required then)"
    )
    freeze_end: AwareDatetime | None = Field(
        default=None, description="GTR freeze only: when it starts again; None: not known yet"
    )
    customer_text: str = Field(default="", max_length=MAX_TEXT)
    channels: frozenset[Channel] = Field(min_length=1)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    chain_to_closure: bool = Field(
        default=False, description="Send the closure template (CLT 6) once this one is sent"
    )

    @field_validator("customer_text")
    @classmethod
    def _text(cls, value: str) -> str:
        return clean_text(value)

    @field_validator("recipients", mode="before")
    @classmethod
    def _recipients(cls, value: object) -> object:
        return parse_recipients(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _coherent(self) -> CustomerInformation:
        freezing = self.context is CommunicationContext.GTR_FREEZE
        if freezing and self.freeze_start is None:
            raise ValueError("a GTR freeze needs freeze_start")
        if not freezing and (self.freeze_start or self.freeze_end):
            raise ValueError("freeze_start and freeze_end only go with context gtr_freeze")
        if self.freeze_start and self.freeze_end and self.freeze_end <= self.freeze_start:
            raise ValueError("freeze_end must be after freeze_start")
        if Channel.SMS in self.channels and not any(r.sms_capable for r in self.recipients):
            raise ValueError("SMS chosen but no recipient has a mobile number")
        return self
