"""A device's history as cuts of its link, from its scenario, the lab's start and ``now``.

A cut is the link going down at ``start`` and back up at ``end``; the drivers print each cut as
their own records (RAD: LOC and RDI raised then cleared; Cisco: LINK and LINEPROTO down then
up). Pure: the start, ``now`` and the zone come in, so a lab started on any day tells a true
story (a device "stable since 3 days ago at 16:10:44" is that on whatever day it runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from vigie_lab.kinds import (
    AlarmsWhileObserved,
    FlappedThenStable,
    Flapping,
    NoSsh,
    Scenario,
)

__all__ = ["Cut", "cuts"]

_MAX_CUTS = 100_000
"""A flapping device that ran for weeks still prints a bounded log."""


@dataclass(frozen=True)
class Cut:
    """The link down from ``start`` to ``end`` (aware instants).

    A cut still going on at ``now`` has ``end`` after ``now``: its clears are not printed yet.
    """

    start: datetime
    end: datetime


def cuts(scenario: Scenario, *, started: datetime, now: datetime, tz: ZoneInfo) -> list[Cut]:
    """The cuts that began by ``now``, oldest first.

    Args:
        scenario: The device's scenario.
        started: When the lab started: relative times are counted from it.
        now: The device's current time: cuts scheduled after it have not happened yet.
        tz: The device's zone, for times pinned to a time of day (``-3d@16:10:44``).

    Raises:
        ValueError: When a pinned time falls after ``started``.
    """
    found: list[Cut]
    if isinstance(scenario, NoSsh):
        found = []
    elif isinstance(scenario, Flapping):
        last = scenario.last.resolve(started, tz)
        ends = [last - k * scenario.spacing for k in reversed(range(scenario.cycles))]
        if scenario.continues:
            ends += _every(last + scenario.spacing, scenario.spacing, now, scenario.down_for)
        found = [Cut(end - scenario.down_for, end) for end in ends]
    elif isinstance(scenario, FlappedThenStable):
        last = scenario.stable_since.resolve(started, tz)
        ends = [last - k * scenario.spacing for k in reversed(range(scenario.cycles))]
        found = [Cut(end - scenario.down_for, end) for end in ends]
    elif isinstance(scenario, AlarmsWhileObserved):
        quiet = scenario.stable_since.resolve(started, tz)
        found = [Cut(quiet - scenario.down_for, quiet)]
        first_end = started + scenario.first_after + scenario.down_for
        ends = _every(first_end, scenario.every, now, scenario.down_for)
        found += [Cut(end - scenario.down_for, end) for end in ends[: scenario.count]]
    else:
        end = scenario.since.resolve(started, tz)
        found = [Cut(end - scenario.down_for, end)]
    return [cut for cut in found if cut.start <= now][-_MAX_CUTS:]


def _every(
    first_end: datetime, spacing: timedelta, now: datetime, down_for: timedelta
) -> list[datetime]:
    """Ends of the cuts every ``spacing`` from ``first_end`` that began by ``now``."""
    if first_end - down_for > now:
        return []
    total = min(int((now - (first_end - down_for)) / spacing) + 1, _MAX_CUTS)
    return [first_end + k * spacing for k in range(total)]
