"""Properties of the GTR clock, over schedules, sites, budgets, starts and pauses (hypothesis).

The last property checks the fast walk (whole open spans) against the definition itself: a
minute-by-minute count of the minutes inside the day's hours, off holidays and pauses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vigie_notifier.gtr import Pause, Site, business_time_used, deadline, instant_at_percent
from vigie_notifier.gtr_contract import Contract, Schedule, parse_commitment

SCHEDULES = [
    parse_commitment(text).schedule
    for text in (
        "GTR 1 mn Lundi au Samedi 8h à 18h",
        "GTR 1 mn HO",
        "GTR 1 mn HNO",
        "GTR 1 mn Lundi au Vendredi 8h30 à 17h30",
        "GTR 1 mn Lundi au Dimanche 0h à 24h",  # local days of 23 and 25 hours
        "GTR 1 mn Samedi au Lundi 9h à 12h",
        "GTR 1 mn Lundi au Dimanche 2h30 à 18h",  # opens in the hour skipped in spring
    )
]
SITES = [
    Site(),
    Site(subdiv="57"),
    Site(tz="America/Martinique", subdiv="972"),
    Site(tz="America/New_York", country="US", subdiv="NY"),
]
START = datetime(2024, 12, 20, tzinfo=UTC)
END = datetime(2027, 1, 10, tzinfo=UTC)

schedules = st.sampled_from(SCHEDULES)
sites = st.sampled_from(SITES)
budgets = st.integers(min_value=1, max_value=5_000)
starts = st.datetimes(
    min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None), timezones=st.just(UTC)
)


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[Pause]:
    """Up to three pauses around ``start``: before, across and after it, inside or outside hours."""
    pauses = []
    for _ in range(draw(st.integers(0, 3))):
        offset = draw(st.integers(-2 * 24 * 60, 6 * 24 * 60))
        length = draw(st.integers(0, 3 * 24 * 60))
        begin = start + timedelta(minutes=offset)
        pauses.append(Pause(begin, begin + timedelta(minutes=length)))
    return pauses


@st.composite
def cases(draw: st.DrawFn) -> tuple[Contract, Site, datetime, list[Pause]]:
    start = draw(starts)
    contract = Contract("S2", draw(budgets), draw(schedules))
    return contract, draw(sites), start, draw(pause_lists(start))


@lru_cache(maxsize=64)
def _holidays(site: Site, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(site.country, subdiv=site.subdiv, years=year))


def _is_open(schedule: Schedule, site: Site, day: date) -> bool:
    if schedule.around_the_clock:
        return True
    off = _holidays(site, day.year)
    return day.weekday() in schedule.days and not (schedule.skips_public_holidays and day in off)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_deadline_falls_inside_the_schedule_or_on_its_closing(
    case: tuple[Contract, Site, datetime, list[Pause]],
) -> None:
    contract, site, start, pauses = case
    schedule = contract.schedule
    at = deadline(contract, start, site=site, pauses=pauses)
    assert at > start
    if schedule.around_the_clock:
        return
    local = at.astimezone(ZoneInfo(site.tz))
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    day = local.date()
    if seconds == 0 and schedule.closes == 24 * 60:  # closing at midnight: the day before
        day, seconds = day - timedelta(days=1), 24 * 3600.0
    assert _is_open(schedule, site, day), local
    assert schedule.opens * 60 < seconds <= schedule.closes * 60, local


@settings(max_examples=300, deadline=None)
@given(cases(), budgets)
def test_more_budget_never_gives_an_earlier_deadline(
    case: tuple[Contract, Site, datetime, list[Pause]], extra: int
) -> None:
    contract, site, start, pauses = case
    more = Contract(contract.service_class, contract.budget_minutes + extra, contract.schedule)
    first = deadline(contract, start, site=site, pauses=pauses)
    assert deadline(more, start, site=site, pauses=pauses) > first


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_a_pause_never_gives_an_earlier_deadline(
    case: tuple[Contract, Site, datetime, list[Pause]], data: st.DataObject
) -> None:
    contract, site, start, pauses = case
    extra = data.draw(pause_lists(start).filter(bool))[0]
    before = deadline(contract, start, site=site, pauses=pauses)
    assert deadline(contract, start, site=site, pauses=[*pauses, extra]) >= before


@settings(max_examples=300, deadline=None)
@given(cases(), st.sampled_from([25, 50, 75, 100]))
def test_time_used_up_to_the_deadline_is_the_budget(
    case: tuple[Contract, Site, datetime, list[Pause]], percent: int
) -> None:
    contract, site, start, pauses = case
    budget = timedelta(minutes=contract.budget_minutes)
    at = deadline(contract, start, site=site, pauses=pauses)
    assert business_time_used(contract, start, at, site=site, pauses=pauses) == budget
    partial = instant_at_percent(contract, start, percent, site=site, pauses=pauses)
    used = business_time_used(contract, start, partial, site=site, pauses=pauses)
    assert used == budget * percent / 100
    assert partial <= at


def _minute_counts(
    schedule: Schedule, site: Site, minute: datetime, pauses: list[tuple[datetime, datetime]]
) -> bool:
    """The definition: inside the day's hours, not a holiday, not paused (minute = its start)."""
    if any(begin <= minute < end for begin, end in pauses):
        return False
    if schedule.around_the_clock:
        return True
    local = minute.astimezone(ZoneInfo(site.tz))
    of_day = local.hour * 60 + local.minute
    inside = schedule.opens <= of_day < schedule.closes
    return inside and _is_open(schedule, site, local.date())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(min_value=1, max_value=600))
def test_deadline_matches_a_minute_by_minute_count(
    case: tuple[Contract, Site, datetime, list[Pause]], budget: int
) -> None:
    contract, site, start, pauses = case
    contract = Contract(None, budget, contract.schedule)
    start = start.replace(second=0, microsecond=0)
    aligned = [
        (p.start.replace(second=0, microsecond=0), p.end.replace(second=0, microsecond=0))
        for p in pauses
    ]
    minute, counted = start, 0
    while counted < budget:
        if _minute_counts(contract.schedule, site, minute, aligned):
            counted += 1
        minute += timedelta(minutes=1)
    assert deadline(contract, start, site=site, pauses=aligned) == minute
