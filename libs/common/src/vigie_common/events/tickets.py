"""The canonical ticket every source maps to, and the events carrying it on the tickets topic."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
MAX_VERSION: Final = 2**62
"""Upstream version counters above this are refused (they fit a signed 64-bit column)."""


def _plausible(value: datetime) -> datetime:
    """An incident time between 1970 and 2200, in UTC (out-of-range years break arithmetic)."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970-01-01 and 2200-01-01")
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""An aware, plausible instant, normalised to UTC."""

TICKET_RECEIVED: Final = "vigie.ticket.received.v1"
TICKET_UPDATED: Final = "vigie.ticket.updated.v1"


class TicketState(StrEnum):
    """Where the incident stands, in vigie's words (upstream states are mapped to these)."""

    OPEN = "open"
    RESTORED = "restored"
    IN_OBSERVATION = "in_observation"
    CLOSED = "closed"


class Nature(StrEnum):
    """How the service is affected (the telco tool's *nature initiale*)."""

    DOWN = "down"
    DEGRADED = "degraded"
    BACKUP_ACTIVE = "backup_active"
    NO_IMPACT = "no_impact"


class Site(BaseModel):
    """One end of the service: the site code technicians look up in the inventory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1, max_length=200, examples=["INL_MOIRA_EVPN_LA1"])
    service_reference: str | None = Field(
        default=None, max_length=200, description="Resource id in the inventory"
    )
    city: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone of the site, e.g. Europe/Paris"
    )


class TicketFields(BaseModel):
    """What every source says about an incident, once mapped (no identity, no version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opened_at: Instant = Field(description="When upstream opened the ticket (not receipt)")
    state: TicketState
    customer: str | None = Field(default=None, max_length=500)
    nature: Nature | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    commitment: str | None = Field(
        default=None,
        max_length=500,
        description="Raw GTR commitment string",
        examples=["GTR S2 240 mn Lundi au Samedi 8h à 18h"],
    )
    site_a: Site | None = None
    site_b: Site | None = Field(default=None, description="Only on point-to-point offers")
    access_reference: str | None = Field(default=None, max_length=200)
    access_type: str | None = Field(default=None, max_length=200)
    product: str | None = Field(default=None, max_length=500)
    title: str | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=20_000)
    alerts: tuple[str, ...] = ()
    restored_at: Instant | None = None
    closed_at: Instant | None = None
    on_hold: bool = Field(
        default=False,
        description="Upstream froze the GTR clock (ServiceNow On Hold, an Oceane freeze): a "
        "pause runs from this version's updated_at until a version that is not on hold",
    )
    updated_at: Instant | None = Field(
        default=None, description="When upstream made this version (its own clock)"
    )


class CanonicalTicket(TicketFields):
    """A ticket as vigie knows it: identity, upstream version and the mapped fields."""

    id: str = Field(description="vigie's ticket id, stable for (source, upstream_id)")
    source: str = Field(description="The upstream system, e.g. servicenow, oceane")
    upstream_id: str = Field(description="The ticket number upstream, e.g. INC0012345")
    version: int = Field(ge=1, description="vigie's version counter for this ticket, from 1")
    raw: dict[str, Any] = Field(default_factory=dict, description="The payload as received")
    raw_omitted: bool = Field(
        default=False,
        description="The payload was too large to ride along: ingest keeps it "
        "(GET /v1/tickets/{id}); the mapped fields above are complete",
    )


class TicketEvent(BaseModel):
    """``data`` of ``vigie.ticket.received.v1`` and ``vigie.ticket.updated.v1``."""

    model_config = ConfigDict(frozen=True)

    ticket: CanonicalTicket
    previous_state: TicketState | None = Field(
        default=None, description="State before this version; null on the first one"
    )
