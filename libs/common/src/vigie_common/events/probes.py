"""What the prober tells the others: one device probed (an observation), a ticket's verdict.

The contract of ``design.md`` §3: the prober publishes them (through its outbox), the notifier
and the dashboards read them. Both are keyed by ticket id. Their ids are derived from the
probing plan and its round (:func:`vigie_common.events.ids.derived_event_id`), so a probe
run again after a crash publishes the same ids, which every inbox drops.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "MAX_EVIDENCE_LINES",
    "OBSERVATION_RECORDED",
    "VERDICT_REACHED",
    "DeviceRef",
    "EndVerdict",
    "LayerName",
    "LayerRun",
    "ObservationRecorded",
    "ObservationWindow",
    "Purpose",
    "Verdict",
    "VerdictReached",
]

OBSERVATION_RECORDED: Final = "vigie.observation.recorded.v1"
VERDICT_REACHED: Final = "vigie.verdict.reached.v1"

MAX_EVIDENCE_LINES: Final = 60
"""Evidence lines an event carries per end: the most recent ones (the read API has them all)."""

LayerName = Literal["reachability", "access", "evidence"]
Figure = float | int | str | bool | None


class Verdict(StrEnum):
    """What a probe concludes about a line (one end, or the ticket: the worst end)."""

    STABLE = "stable"
    FLAPPING = "flapping"
    INCONCLUSIVE = "inconclusive"
    UNREACHABLE = "unreachable"


class Purpose(StrEnum):
    """Why the ticket was probed."""

    DIAGNOSTIC = "diagnostic"
    """An ``open`` ticket: one probe, now, to tell the technician what the line does."""
    OBSERVATION = "observation"
    """A ``restored`` ticket: probed every interval until its observation window closes."""


class DeviceRef(BaseModel):
    """The router probed, as the inventory names it."""

    model_config = ConfigDict(frozen=True)

    hostname: str
    address: str
    driver: str


class LayerRun(BaseModel):
    """One layer of the runbook as it ran, with its figures (loss %, RTT, bytes read…)."""

    model_config = ConfigDict(frozen=True)

    layer: LayerName
    ok: bool
    detail: str
    duration_s: float
    figures: dict[str, Figure] = Field(default_factory=dict)


class ObservationRecorded(BaseModel):
    """``data`` of ``vigie.observation.recorded.v1``: one device (or one unknown site) probed once.

    ``device`` is None when the site is unknown to the inventory: nothing could be probed and
    the verdict is ``inconclusive (unknown site <code>)``.
    """

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    probe_id: str = Field(description="The ticket's probe (a round of its plan): its ends share it")
    purpose: Purpose
    round: int = Field(ge=1, description="1 for the first probe of the plan, then 2, 3…")
    end: Literal["a", "b"]
    site_code: str
    device: DeviceRef | None
    started: AwareDatetime
    finished: AwareDatetime
    layers: tuple[LayerRun, ...] = ()
    failed_layer: LayerName | None = None
    verdict: Verdict
    reason: str
    stable_since: AwareDatetime | None = None
    flaps: int = 0
    penalty: float = 0.0
    evidence: tuple[str, ...] = Field(default=(), description="The most recent log lines")
    unparsed: tuple[str, ...] = Field(
        default=(), description="Lines no driver could read (the first ones), kept as evidence"
    )


class EndVerdict(BaseModel):
    """One end of the ticket's line (a device of its site, or an unknown site)."""

    model_config = ConfigDict(frozen=True)

    end: Literal["a", "b"]
    site_code: str
    hostname: str | None
    verdict: Verdict
    reason: str
    failed_layer: LayerName | None = None
    stable_since: AwareDatetime | None = None
    flaps: int = 0
    penalty: float = 0.0
    evidence: tuple[str, ...] = Field(
        default=(), description="The link events of its log, as printed (the most recent)"
    )


class ObservationWindow(BaseModel):
    """Where the observation stands: when it started, when it closes, whether this is the end."""

    model_config = ConfigDict(frozen=True)

    started: AwareDatetime
    closes_at: AwareDatetime
    interval_s: float
    final: bool = Field(description="The window has closed (or the line failed): no more probes")
    next_probe_at: AwareDatetime | None = None


class VerdictReached(BaseModel):
    """``data`` of ``vigie.verdict.reached.v1``: a ticket's line judged from its ends."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    source: str
    upstream_id: str
    ticket_version: int = Field(ge=1, description="The ticket version the probe was planned for")
    probe_id: str
    purpose: Purpose
    round: int = Field(ge=1)
    verdict: Verdict
    reason: str
    stable_since: AwareDatetime | None = None
    flaps: int = 0
    since: AwareDatetime | None = Field(
        default=None, description="Flaps are counted from here (the repair); null: the whole log"
    )
    until: AwareDatetime = Field(description="When the line was judged")
    ends: tuple[EndVerdict, ...] = ()
    observation: ObservationWindow | None = Field(
        default=None, description="Null for a diagnostic probe"
    )
