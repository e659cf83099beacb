"""Where the GTR clock runs: the site's zone, its public holidays and each day's open hours.

A schedule says "Monday to Saturday, 8h to 18h" in the site's wall time; the clock needs UTC
instants. A :class:`Calendar` turns each local day into its open hours once (``holidays`` sets
built once per country, subdivision and year; DST days resolved in the zone) and keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from vigie_notifier.gtr_contract import MINUTES_PER_DAY, Schedule

__all__ = [
    "DEFAULT_SITE",
    "Calendar",
    "Site",
    "Span",
    "UnknownCalendar",
    "calendar_for",
    "resolve_site",
]

_FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)
_DAY_CACHE_LIMIT: Final = 10_000  # days of open hours kept per calendar (~27 years)

Span = tuple[datetime, datetime]


class UnknownCalendar(ValueError):
    """A site whose zone, country or subdivision the clock does not know.

    Attributes:
        field: ``tz``, ``country`` or ``subdiv``.
        value: what was given.
    """

    def __init__(
        self, field: Literal["tz", "country", "subdiv"], value: str, expected: str
    ) -> None:
        super().__init__(f"unknown {field} {value!r} (expected {expected})")
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class Site:
    """Where the clock runs: IANA zone, ISO country and the ``holidays`` subdivision code."""

    tz: str = "Europe/Paris"
    country: str = "FR"
    subdiv: str | None = None


DEFAULT_SITE: Final = Site()


@lru_cache(maxsize=256)
def _resolve(site: Site) -> tuple[ZoneInfo, Site]:
    try:
        zone = ZoneInfo(site.tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory
        raise UnknownCalendar("tz", site.tz, "an IANA zone such as Europe/Paris") from None
    try:
        entity = holidays.country_holidays(site.country.strip().upper())
    except NotImplementedError:
        raise UnknownCalendar("country", site.country, "an ISO 3166 code such as FR") from None
    country = str(entity.country)
    if site.subdiv is None or not site.subdiv.strip():
        return zone, Site(site.tz, country, None)
    codes = {code.casefold(): code for code in entity.subdivisions}
    codes |= {alias.casefold(): code for alias, code in entity.subdivisions_aliases.items()}
    if (subdiv := codes.get(site.subdiv.strip().casefold())) is None:
        known = ", ".join(entity.subdivisions) or "none"
        raise UnknownCalendar("subdiv", site.subdiv, f"one of {country}'s: {known}")
    return zone, Site(site.tz, country, subdiv)


def resolve_site(site: Site) -> Site:
    """The site checked, with the ``holidays`` package's own codes (``Moselle`` → ``57``).

    Raises:
        UnknownCalendar: the zone, country or subdivision is not known.
    """
    return _resolve(site)[1]


@lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """Public holidays of one year; the ``holidays`` objects are slow to build, so once each."""
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


def _first_instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The first instant (UTC) the site's clock reads ``minute`` of ``day`` or later.

    An hour the clock jumps over (spring forward) starts when the jump lands; an hour it reads
    twice (fall back) is taken at its first reading.
    """
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # A wall time the clock jumps over: the jump itself, found to the second (zones move on
    # whole seconds) between the reading before it (fold=1) and the one after (fold=0).
    naive = wall.replace(tzinfo=None)
    before, after = int(wall.replace(fold=1).timestamp()), int(instant.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) < naive:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


class Calendar:
    """One schedule at one site: each local day's open hours as UTC instants, memoised."""

    __slots__ = ("_country", "_days", "_schedule", "_subdiv", "_zone", "continuous")

    def __init__(self, schedule: Schedule, site: Site) -> None:
        """Resolve the site once; days are laid out on demand by :meth:`spans`.

        Raises:
            UnknownCalendar: the site's zone, country or subdivision is not known.
        """
        self._zone, resolved = _resolve(site)
        self._country, self._subdiv = resolved.country, resolved.subdiv
        self._schedule = schedule
        self._days: dict[int, Span | None] = {}
        self.continuous = schedule.around_the_clock

    def _open_hours(self, ordinal: int) -> Span | None:
        day = date.fromordinal(ordinal)
        schedule = self._schedule
        if day.weekday() not in schedule.days or (
            schedule.skips_public_holidays
            and day in _holiday_dates(self._country, self._subdiv, day.year)
        ):
            return None
        opens = _first_instant(self._zone, day, schedule.opens)
        return opens, _first_instant(self._zone, day, schedule.closes)

    def spans(self, start: datetime) -> Iterator[Span]:
        """Open hours from ``start`` (UTC) on, the first one clipped to it; never ends."""
        if self.continuous:
            yield start, _FAR_FUTURE
            return
        days = self._days
        if len(days) > _DAY_CACHE_LIMIT:
            days.clear()
        ordinal = start.astimezone(self._zone).toordinal()
        while True:
            try:
                span = days[ordinal]
            except KeyError:
                span = days[ordinal] = self._open_hours(ordinal)
            ordinal += 1
            if span is not None and span[1] > start:
                yield (start if span[0] < start else span[0]), span[1]


@lru_cache(maxsize=512)
def calendar_for(schedule: Schedule, site: Site) -> Calendar:
    """The calendar of ``schedule`` at ``site``, built once and kept with its days.

    Raises:
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    return Calendar(schedule, site)
