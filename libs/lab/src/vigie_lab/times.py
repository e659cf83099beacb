"""Scenario times: durations (``90s``, ``10m``, ``1h30m``) and times relative to the lab's start.

A relative time is ``now`` or a negative offset, optionally pinned to a time of day in the
device's zone: ``-90m`` (90 minutes before the start), ``-3d`` (3 days before, same time of
day), ``-3d@16:10:44`` (3 calendar days before, at 16:10:44 local time). Pure: the start
instant and the zone come in as arguments, so the lab stays true on any day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["RelativeTime", "parse_duration", "parse_relative"]

_UNITS: Final = r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
_DURATION: Final = re.compile(rf"^{_UNITS}$")
_RELATIVE: Final = re.compile(
    rf"^-{_UNITS}(?:@(?P<hh>\d{{1,2}}):(?P<mm>\d{{2}})(?::(?P<ss>\d{{2}}))?)?$"
)
DURATION_FORMAT: Final = "a duration like 90s, 10m, 1h30m or 2d (or a number of seconds)"
RELATIVE_FORMAT: Final = "'now' or a past offset like -90m, -3d or -3d@16:10:44"


def _delta(match: re.Match[str]) -> timedelta:
    return timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"] or 0),
        minutes=int(match["m"] or 0),
        seconds=int(match["s"] or 0),
    )


def parse_duration(value: str | int | float) -> timedelta:
    """Read a duration: ``90s``, ``10m``, ``1h30m``, ``2d``, or a number of seconds.

    Raises:
        ValueError: When the value is none of these, or negative.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected {DURATION_FORMAT}, got a negative number")
        return timedelta(seconds=value)
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"expected {DURATION_FORMAT}, got {text!r}")
    return _delta(match)


@dataclass(frozen=True)
class RelativeTime:
    """A past instant given relative to the lab's start.

    Attributes:
        offset: How long before the start (days count as calendar days when pinned).
        at: The local time of day it is pinned to, or None.
        text: As written in the scenario.
    """

    offset: timedelta
    at: time | None
    text: str

    def resolve(self, start: datetime, tz: ZoneInfo) -> datetime:
        """The instant this names, for a lab started at ``start`` on a device in ``tz``.

        Raises:
            ValueError: When the pinned time of day falls after ``start`` (``-0d@23:00`` in
                the morning): a history cannot be in the future.
        """
        if self.at is None:
            return start - self.offset
        local = (start - self.offset).astimezone(tz)
        pinned = datetime.combine(local.date(), self.at, tzinfo=tz)
        if pinned > start:
            raise ValueError(f"{self.text!r} falls after the lab's start")
        return pinned

    def __str__(self) -> str:
        return self.text


def parse_relative(value: str) -> RelativeTime:
    """Read ``now``, ``-90m``, ``-3d``, ``-3d@16:10:44``.

    Raises:
        ValueError: When the value is none of these (future offsets are refused too).
    """
    text = str(value).strip()
    if text == "now":
        return RelativeTime(offset=timedelta(0), at=None, text=text)
    match = _RELATIVE.match(text)
    if match is None or not any(match[unit] for unit in ("d", "h", "m", "s")):
        raise ValueError(f"expected {RELATIVE_FORMAT}, got {text!r}")
    at = None
    if match["hh"] is not None:
        try:
            at = time(int(match["hh"]), int(match["mm"]), int(match["ss"] or 0))
        except ValueError:
            raise ValueError(f"{text!r}: no such time of day") from None
    return RelativeTime(offset=_delta(match), at=at, text=text)
