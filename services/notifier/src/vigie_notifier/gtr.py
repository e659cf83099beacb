"""The GTR clock: deadline, business time used and outcome, in the site's own calendar.

A minute counts when it falls inside the schedule's hours ``[opens, closes)`` on a scheduled
week day, its local date is not a public holiday of the site (``holidays`` package, regional
ones included) and no pause (a *freeze* of the clock) covers it; ``24/7`` counts every real
minute. Instants come in and go out as aware datetimes in UTC; the schedule is laid out in the
site's zone, so DST days and holidays land where a technician on site would put them.

The walk goes from one day's open hours to the next (never minute by minute), over the days
the site's :class:`~vigie_notifier.gtr_calendar.Calendar` computes once and keeps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from vigie_notifier.gtr_calendar import (
    DEFAULT_SITE,
    Calendar,
    Site,
    Span,
    UnknownCalendar,
    calendar_for,
    resolve_site,
)
from vigie_notifier.gtr_contract import Contract

__all__ = [
    "DEFAULT_SITE",
    "ClockState",
    "Outcome",
    "Pause",
    "Pauses",
    "Site",
    "UnknownCalendar",
    "business_minutes_used",
    "business_time_used",
    "deadline",
    "instant_at_percent",
    "outcome",
    "resolve_site",
]

_ONE_MINUTE: Final = timedelta(minutes=1)


class Pause(NamedTuple):
    """A freeze of the GTR clock, ``[start, end)``, aware datetimes."""

    start: datetime
    end: datetime


Pauses = Iterable[Pause | tuple[datetime, datetime]]


class ClockState(enum.StrEnum):
    """Where a ticket's clock is: still running, stopped by restoration, or cancelled."""

    RUNNING = "running"
    RESTORED = "restored"
    CANCELLED = "cancelled"  # closed without a restoration: nothing to judge


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the notifier records per ticket; the judgement fields are None unless restored.

    ``business_minutes_used`` counts a started minute as used, so ``margin_minutes`` (budget
    minus used) is negative exactly when the restoration came after a business minute past the
    deadline; one after the deadline but before the next opening is breached with margin 0.
    """

    state: ClockState
    start: datetime
    deadline: datetime
    restored_at: datetime | None = None
    closed_at: datetime | None = None
    business_minutes_used: int | None = None
    met: bool | None = None
    margin_minutes: int | None = None


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _merged(pauses: Pauses) -> tuple[Span, ...]:
    """Pauses in UTC, sorted, overlaps merged, empty ones dropped.

    Raises:
        ValueError: a pause is naive or ends before it starts.
    """
    spans = []
    for start, end in pauses:
        begin, finish = _utc(start, "pause start"), _utc(end, "pause end")
        if finish < begin:
            raise ValueError(f"pause ends ({end.isoformat()}) before it starts")
        if finish > begin:
            spans.append((begin, finish))
    spans.sort()
    merged: list[Span] = []
    for begin, finish in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(finish, merged[-1][1]))
        else:
            merged.append((begin, finish))
    return tuple(merged)


def _counted(calendar: Calendar, start: datetime, pauses: Sequence[Span]) -> Iterator[Span]:
    """The stretches of time the clock runs from ``start`` on: open hours minus pauses."""
    index, count = 0, len(pauses)
    for begin, end in calendar.spans(start):
        while index < count and pauses[index][1] <= begin:
            index += 1
        while index < count and pauses[index][0] < end:
            paused_from, paused_to = pauses[index]
            if paused_from > begin:
                yield begin, paused_from
            if paused_to >= end:
                break  # the pause runs past these hours and may cover the next ones too
            begin = paused_to
            index += 1
        else:
            yield begin, end


def _advance(
    calendar: Calendar, start: datetime, budget: timedelta, pauses: Sequence[Span]
) -> datetime:
    if budget <= timedelta(0):
        return start
    remaining = budget
    for begin, end in _counted(calendar, start, pauses):
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: open hours never run out")  # pragma: no cover


def deadline(
    contract: Contract, start: datetime, *, site: Site = DEFAULT_SITE, pauses: Pauses = ()
) -> datetime:
    """When the last minute of the budget ends, counted from ``start`` (the ticket's creation).

    A budget that runs out at closing time ends at closing time, not at the next opening.

    Raises:
        ValueError: a naive datetime, or a pause that ends before it starts.
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    begin = _utc(start, "start")
    budget = timedelta(minutes=contract.budget_minutes)
    return _advance(calendar_for(contract.schedule, site), begin, budget, _merged(pauses))


def instant_at_percent(
    contract: Contract,
    start: datetime,
    percent: float,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Pauses = (),
) -> datetime:
    """The instant ``percent`` of the budget is used up (the watcher's 50/75/100 % warnings).

    Raises:
        ValueError: a negative percentage, a naive datetime or a pause ending before it starts.
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    if percent < 0:
        raise ValueError(f"percent must not be negative, got {percent}")
    share = timedelta(minutes=contract.budget_minutes) * percent / 100
    calendar = calendar_for(contract.schedule, site)
    return _advance(calendar, _utc(start, "start"), share, _merged(pauses))


def business_time_used(
    contract: Contract,
    start: datetime,
    until: datetime,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Pauses = (),
) -> timedelta:
    """Time the clock ran between ``start`` and ``until`` (zero when ``until`` is not later).

    Raises:
        ValueError: a naive datetime, or a pause that ends before it starts.
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    begin, stop = _utc(start, "start"), _utc(until, "until")
    used = timedelta(0)
    if stop <= begin:
        return used
    for span_begin, span_end in _counted(
        calendar_for(contract.schedule, site), begin, _merged(pauses)
    ):
        if span_begin >= stop:
            break
        used += (span_end if span_end < stop else stop) - span_begin
    return used


def business_minutes_used(
    contract: Contract,
    start: datetime,
    until: datetime,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Pauses = (),
) -> int:
    """Business minutes used, a started minute counting as used (how SAV counts them).

    Raises:
        ValueError: a naive datetime, or a pause that ends before it starts.
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    used = business_time_used(contract, start, until, site=site, pauses=pauses)
    return -(-used // _ONE_MINUTE)


def outcome(
    contract: Contract,
    start: datetime,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Pauses = (),
    restored_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> Outcome:
    """The ticket's GTR record: restored (met or breached, margin), cancelled, or running.

    A restoration stops the clock and is judged even if the ticket was closed later; a closure
    without restoration cancels the clock (nothing to judge).

    Raises:
        ValueError: a naive datetime, or a pause that ends before it starts.
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    frozen = _merged(pauses)
    due = deadline(contract, start, site=site, pauses=frozen)
    begin = _utc(start, "start")
    closed = None if closed_at is None else _utc(closed_at, "closed_at")
    if restored_at is None:
        state = ClockState.RUNNING if closed is None else ClockState.CANCELLED
        return Outcome(state, begin, due, closed_at=closed)
    restored = _utc(restored_at, "restored_at")
    used = business_minutes_used(contract, begin, restored, site=site, pauses=frozen)
    return Outcome(
        ClockState.RESTORED,
        begin,
        due,
        restored_at=restored,
        closed_at=closed,
        business_minutes_used=used,
        met=restored <= due,
        margin_minutes=contract.budget_minutes - used,
    )
