"""A probe round's results as the events of ``design.md`` §3: pure, values in, events out.

Ids derive from the plan and the round: the same round judged twice (a prober killed after
probing, its lease taken over) gives the same ids, and the outbox keeps one of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, cast

from vigie_common.events.envelope import CloudEvent, new_event
from vigie_common.events.ids import derived_event_id
from vigie_common.events.probes import (
    MAX_EVIDENCE_LINES,
    OBSERVATION_RECORDED,
    VERDICT_REACHED,
    DeviceRef,
    EndVerdict,
    LayerRun,
    ObservationRecorded,
    ObservationWindow,
    Purpose,
    VerdictReached,
)

from vigie_prober.plans import NextProbe, SiteRef
from vigie_prober.runbook import DeviceProbe
from vigie_prober.verdicts import DeviceVerdict, TicketVerdict, judge_ticket

__all__ = [
    "EVENT_SOURCE",
    "EndResult",
    "PlannedProbe",
    "RoundEvents",
    "judge_round",
    "probe_id",
    "round_events",
]

EVENT_SOURCE: Final = "/vigie/prober"
MAX_UNPARSED_LINES: Final = 20

End = Literal["a", "b"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedProbe:
    """A claimed round of a ticket's plan: everything the probe and its events need."""

    ticket_id: str
    plan_id: str
    source: str
    upstream_id: str
    ticket_version: int
    purpose: Purpose
    sites: Sequence[SiteRef]
    product: str | None
    since: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    interval: timedelta | None
    round: int
    """The round this probe is (the plan's rounds done + 1)."""
    due_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EndResult:
    """One end of the ticket probed: a device of its site, or a site the inventory lacks."""

    end: End
    site_code: str
    verdict: DeviceVerdict
    probe: DeviceProbe | None = None
    """None when nothing could be probed (unknown site, a site without a device)."""


@dataclass(frozen=True, slots=True)
class RoundEvents:
    """The round's events: one observation per end probed, then the ticket's verdict."""

    observations: tuple[CloudEvent[ObservationRecorded], ...]
    verdict: CloudEvent[VerdictReached]


def probe_id(plan_id: str, round_: int) -> str:
    """The id of a plan's round (shared by its ends' observations and its verdict)."""
    return derived_event_id(plan_id, "probe", str(round_))


def judge_round(ends: Sequence[EndResult]) -> TicketVerdict:
    """The ticket's verdict from its ends (the worst end wins); no end: inconclusive."""
    if not ends:
        return TicketVerdict(
            verdict=judge_ticket([]).verdict, reason="the ticket names no site to probe"
        )
    return judge_ticket([end.verdict for end in ends])


def _evidence(verdict: DeviceVerdict) -> tuple[str, ...]:
    lines = [event.line for event in verdict.events if event.link]
    return tuple(lines[-MAX_EVIDENCE_LINES:])


def _observation(planned: PlannedProbe, end: EndResult, started: datetime) -> ObservationRecorded:
    probe, verdict = end.probe, end.verdict
    return ObservationRecorded(
        ticket_id=planned.ticket_id,
        probe_id=probe_id(planned.plan_id, planned.round),
        purpose=planned.purpose,
        round=planned.round,
        end=end.end,
        site_code=end.site_code,
        device=None
        if probe is None
        else DeviceRef(hostname=probe.hostname, address=probe.address, driver=probe.driver),
        started=probe.started if probe else started,
        finished=probe.finished if probe else started,
        layers=()
        if probe is None
        else tuple(
            LayerRun(
                layer=layer.layer,
                ok=layer.ok,
                detail=layer.detail,
                duration_s=layer.duration_s,
                figures=dict(layer.figures),
            )
            for layer in probe.layers
        ),
        failed_layer=probe.failed_layer if probe else None,
        verdict=verdict.verdict,
        reason=verdict.reason,
        stable_since=verdict.stable_since,
        flaps=verdict.flaps,
        penalty=round(verdict.penalty, 3),
        evidence=_evidence(verdict),
        unparsed=verdict.unparsed[:MAX_UNPARSED_LINES],
    )


def round_events(
    planned: PlannedProbe,
    ends: Sequence[EndResult],
    verdict: TicketVerdict,
    *,
    started: datetime,
    until: datetime,
    next_probe: NextProbe,
) -> RoundEvents:
    """The round's observation events and its verdict event, with deterministic ids."""
    pid = probe_id(planned.plan_id, planned.round)
    observations = []
    for end in ends:
        data = _observation(planned, end, started)
        name = end.probe.hostname if end.probe else ""
        eid = derived_event_id(
            planned.plan_id, OBSERVATION_RECORDED, str(planned.round), end.end, end.site_code, name
        )
        observations.append(
            new_event(
                id=eid,
                type=OBSERVATION_RECORDED,
                source=EVENT_SOURCE,
                subject=planned.ticket_id,
                data=data,
                time=until,
            )
        )
    window = None
    if planned.purpose is Purpose.OBSERVATION and planned.window_start and planned.window_end:
        window = ObservationWindow(
            started=planned.window_start,
            closes_at=planned.window_end,
            interval_s=planned.interval.total_seconds() if planned.interval else 0.0,
            final=next_probe.final,
            next_probe_at=next_probe.due_at,
        )
    verdict_data = VerdictReached(
        ticket_id=planned.ticket_id,
        source=planned.source,
        upstream_id=planned.upstream_id,
        ticket_version=planned.ticket_version,
        probe_id=pid,
        purpose=planned.purpose,
        round=planned.round,
        verdict=verdict.verdict,
        reason=verdict.reason,
        stable_since=verdict.stable_since,
        flaps=verdict.flaps,
        since=planned.since,
        until=until,
        ends=tuple(
            EndVerdict(
                end=end.end,
                site_code=end.site_code,
                hostname=end.probe.hostname if end.probe else None,
                verdict=end.verdict.verdict,
                reason=end.verdict.reason,
                failed_layer=end.probe.failed_layer if end.probe else None,
                stable_since=end.verdict.stable_since,
                flaps=end.verdict.flaps,
                penalty=round(end.verdict.penalty, 3),
                evidence=_evidence(end.verdict),
            )
            for end in ends
        ),
        observation=window,
    )
    event = new_event(
        id=derived_event_id(planned.plan_id, VERDICT_REACHED, str(planned.round)),
        type=VERDICT_REACHED,
        source=EVENT_SOURCE,
        subject=planned.ticket_id,
        data=verdict_data,
        time=until,
    )
    return RoundEvents(observations=tuple(observations), verdict=event)


def as_end(value: str | None) -> End:
    """A stored end label, checked."""
    if value not in ("a", "b"):
        raise ValueError(f"not an end: {value!r}")
    return cast(End, value)
