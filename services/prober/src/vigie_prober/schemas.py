"""The prober's typed values: what a router's log says, once parsed."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventKind(StrEnum):
    """Whether an alarm line raises a condition or clears it."""

    RAISE = "raise"
    CLEAR = "clear"


class AlarmEvent(BaseModel):
    """One alarm of a router's log: when, what, where, and whether it counts as a link cut.

    ``at`` is aware, in the device's zone (its log is local time). Only ``link`` events
    (RAD LOC / RDI / link down; Cisco ``%LINK-3-UPDOWN`` / ``%LINEPROTO-5-UPDOWN``) weigh on
    flap detection; the others are listed as evidence and nothing more.
    """

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    alarm: str = Field(description="The alarm as the router names it, e.g. Loss of continuity")
    source: str = Field(description="Where: an interface, a MEP, a port")
    severity: str | None = None
    kind: EventKind
    link: bool = Field(description="A link event: counts toward flaps and stable-since")
    device: str | None = Field(default=None, description="The device, when a paste holds several")
    line: str = Field(description="The evidence, as printed (one or two lines)")


class ParsedLog(BaseModel):
    """What a driver made of one output: its events, and every line it could not read."""

    model_config = ConfigDict(frozen=True)

    events: tuple[AlarmEvent, ...] = ()
    unparsed: tuple[str, ...] = ()
    recognised: bool = Field(
        description="The output is this driver's log (possibly empty); False for anything else"
    )
