"""What the notifier tells the others: a notification sent or failed, a GTR warning or outcome.

The contract of ``design.md`` §3, keyed by ticket id like every vigie event. Ids derive from
the cause (the idempotency key of a send, the threshold of a warning), so a notifier that
runs a step again publishes nothing new. Recipients travel by name only: addresses and phone
numbers stay in the notifier's tables.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "GTR_OUTCOME",
    "GTR_WARNING",
    "NOTIFICATION_FAILED",
    "NOTIFICATION_SENT",
    "Channel",
    "GtrContract",
    "GtrOutcome",
    "GtrWarning",
    "NotificationFailed",
    "NotificationSent",
]

NOTIFICATION_SENT: Final = "vigie.notification.sent.v1"
NOTIFICATION_FAILED: Final = "vigie.notification.failed.v1"
GTR_WARNING: Final = "vigie.gtr.warning.v1"
GTR_OUTCOME: Final = "vigie.gtr.outcome.v1"


class Channel(StrEnum):
    """How a notification travels."""

    MAIL = "mail"
    SMS = "sms"


class NotificationSent(BaseModel):
    """``data`` of ``vigie.notification.sent.v1``: the server (SMTP, SMS gateway) took it."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    template: str = Field(description="The team's code: CLT5, A0, E1…")
    channel: Channel
    recipients: tuple[str, ...] = Field(description="Names only, never addresses")
    message_id: str = Field(description="The mail's Message-ID, or the SMS's idempotency key")
    cause_event_id: str = Field(description="The event that made the decision")
    rule: str
    at: AwareDatetime
    attempts: int = Field(ge=1)
    refused: tuple[str, ...] = Field(
        default=(),
        description="Names of the recipients the server refused while it took the message "
        "for the others (not sent again: the others would get it twice)",
    )


class NotificationFailed(BaseModel):
    """``data`` of ``vigie.notification.failed.v1``: refused for good (5xx, a bad address)."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    template: str
    channel: Channel
    recipients: tuple[str, ...]
    message_id: str
    cause_event_id: str
    rule: str
    at: AwareDatetime
    attempts: int = Field(ge=1)
    reason: str = Field(description="What the server said, one line, no address")


class GtrContract(BaseModel):
    """The commitment as the clock reads it."""

    model_config = ConfigDict(frozen=True)

    commitment: str
    service_class: str | None = Field(default=None, description="S1, S2…")
    budget_minutes: int
    schedule: str = Field(description="e.g. Monday to Saturday 08:00-18:00, or 24/7")
    tz: str
    country: str
    subdiv: str | None = None


class GtrWarning(BaseModel):
    """``data`` of ``vigie.gtr.warning.v1``: a share of the budget is used, not yet restored."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    contract: GtrContract
    threshold_percent: int = Field(description="50, 75 or 100")
    deadline: AwareDatetime
    business_minutes_used: int
    budget_minutes: int
    at: AwareDatetime


class GtrOutcome(BaseModel):
    """``data`` of ``vigie.gtr.outcome.v1``: restored in time, or not (or cancelled)."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    contract: GtrContract
    started_at: AwareDatetime
    deadline: AwareDatetime
    state: str = Field(description="restored or cancelled (closed without restoration)")
    restored_at: AwareDatetime | None = None
    business_minutes_used: int | None = None
    met: bool | None = None
    margin_minutes: int | None = None
