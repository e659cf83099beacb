"""The GTR clock: commitment reading, deadlines in the site's calendar, pauses and outcomes."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from vigie_notifier.gtr import (
    DEFAULT_SITE,
    ClockState,
    Pause,
    Site,
    UnknownCalendar,
    business_minutes_used,
    business_time_used,
    deadline,
    instant_at_percent,
    outcome,
    resolve_site,
)
from vigie_notifier.gtr_contract import CommitmentUnreadable, Contract, Schedule, parse_commitment

PARIS = ZoneInfo("Europe/Paris")
MARTINIQUE = ZoneInfo("America/Martinique")
REAL = "GTR S2 240 mn Lundi au Samedi 8h à 18h"
MOSELLE = Site(subdiv="57")
ALSACE = Site(subdiv="6AE")


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=PARIS)


def due(
    commitment: str,
    start: datetime,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> datetime:
    """The deadline, read back in the zone of ``start`` for readable assertions."""
    at = deadline(parse_commitment(commitment), start, site=site, pauses=pauses)
    assert at.tzinfo is UTC
    return at.astimezone(start.tzinfo)


# --- reading commitments --------------------------------------------------------------------


def test_real_commitment_reads_class_budget_and_schedule() -> None:
    contract = parse_commitment(REAL)
    assert contract == Contract("S2", 240, Schedule((0, 1, 2, 3, 4, 5), 8 * 60, 18 * 60))
    assert not contract.schedule.around_the_clock


@pytest.mark.parametrize(
    ("text", "budget", "days", "opens", "closes", "holidays_off"),
    [
        ("GTR S1 4h HO", 240, (0, 1, 2, 3, 4), 480, 1080, True),
        ("GTR S1 4h HNO", 240, tuple(range(7)), 0, 1440, False),
        ("GTR S1 4h 24/7", 240, tuple(range(7)), 0, 1440, False),
        ("GTR S1 2h 24h/24 7j/7", 120, tuple(range(7)), 0, 1440, False),
        ("GTR S3 8 h Lundi au Vendredi 8h30 à 17h30", 480, (0, 1, 2, 3, 4), 510, 1050, True),
        ("GTR S2 1h30 du lundi au vendredi de 8h00 à 18h00", 90, (0, 1, 2, 3, 4), 480, 1080, True),
        ("GTR S2 240 min Lun. au Sam. 08:00-18:00", 240, (0, 1, 2, 3, 4, 5), 480, 1080, True),
        ("GTR S4 10 heures Samedi au Lundi 9h à 12h", 600, (0, 5, 6), 540, 720, True),
        ("GTR 240 mn Lundi au Dimanche 0h à 24h", 240, tuple(range(7)), 0, 1440, True),
    ],
)
def test_commitment_variants(
    text: str, budget: int, days: tuple[int, ...], opens: int, closes: int, holidays_off: bool
) -> None:
    contract = parse_commitment(text)
    assert contract.budget_minutes == budget
    assert contract.schedule == Schedule(days, opens, closes, holidays_off)


@pytest.mark.parametrize(
    "text",
    [
        "gtr s2 240 mn lundi au samedi 8h a 18h",
        "GTR S2 240 MN LUNDI AU SAMEDI 8H À 18H",
        "  Gtr  S2   240mn   Lundi au Samedi   8 h à 18 h ",
        unicodedata.normalize("NFD", REAL),  # "à" as "a" + combining grave accent
        "GTR S2 240 mn Lundi au Samedi 8h à 18h".replace(" ", "\u00a0"),
    ],
)
def test_case_accents_and_spacing_do_not_matter(text: str) -> None:
    assert parse_commitment(text) == parse_commitment(REAL)


def test_class_is_optional() -> None:
    assert parse_commitment("GTR 4h HO").service_class is None
    assert parse_commitment("gtr s12 4h ho").service_class == "S12"


@pytest.mark.parametrize(
    ("text", "part", "quoted"),
    [
        ("GTR S2 240 mn Lundi au Samdi 8h à 18h", "schedule", "'Samdi'"),
        ("GTR S2 240 mn Lundi au Samedi 8h à 25h", "schedule", "'Lundi au Samedi 8h à 25h'"),
        ("GTR S2 240 mn Lundi au Samedi 18h à 8h", "schedule", "does not open before"),
        ("GTR S2 240 mn Lundi au Samedi 8h 18h", "schedule", "'8h 18h'"),
        ("GTR S2 240 mn Lundi au Samedi", "schedule", "no hours"),
        ("GTR S2 240 mn", "schedule", "there is none"),
        ("GTR S2 240 mn HO 24/7", "schedule", "two schedules"),
        ("GTR S2 240 Lundi au Samedi 8h à 18h", "budget", "'240'"),
        ("GTR S2 Lundi au Samedi 8h à 18h", "budget", "there is none"),
        ("GTR S2 0 mn HO", "budget", "'0 mn'"),
        ("GTR S2 4h 240 mn HO", "budget", "two budgets"),
        ("GTR S2 4h70 HO", "budget", "70 minutes"),
        ("GTR S2 S3 4h HO", "class", "'S3'"),
        ("GTR S2 240 mn heures ouvrées", "text", "'heures ouvrées'"),
        ("GTR S2 240 mn Lundi au Samedi 8h à 18h sauf août", "text", "'sauf août'"),
        ("", "text", "empty"),
    ],
)
def test_unreadable_commitment_names_the_part(text: str, part: str, quoted: str) -> None:
    with pytest.raises(CommitmentUnreadable) as caught:
        parse_commitment(text)
    assert caught.value.part == part
    assert caught.value.commitment == text
    assert quoted in caught.value.reason
    assert f"cannot read the {part}" in str(caught.value)


def test_schedules_and_contracts_built_by_hand_are_checked() -> None:
    with pytest.raises(ValueError, match="days"):
        Schedule((), 480, 1080)
    with pytest.raises(ValueError, match="days"):
        Schedule((7,), 480, 1080)
    with pytest.raises(ValueError, match="hours"):
        Schedule((0,), 1080, 480)
    with pytest.raises(ValueError, match="budget"):
        Contract("S1", 0, Schedule((0,), 480, 1080))


def test_contracts_are_cached() -> None:
    assert parse_commitment(REAL) is parse_commitment(REAL)


# --- deadlines ------------------------------------------------------------------------------


def test_real_ticket_deadline_is_same_day() -> None:
    assert due(REAL, paris(2025, 5, 30, 9, 52)) == paris(2025, 5, 30, 13, 52)


def test_deadline_is_utc_and_keeps_seconds() -> None:
    start = datetime(2025, 5, 30, 7, 52, 30, tzinfo=UTC)
    assert deadline(parse_commitment(REAL), start) == datetime(2025, 5, 30, 11, 52, 30, tzinfo=UTC)


def test_saturday_evening_continues_monday_morning() -> None:
    assert due(REAL, paris(2025, 5, 31, 17, 0)) == paris(2025, 6, 2, 11, 0)


def test_sunday_is_skipped() -> None:
    assert due(REAL, paris(2025, 6, 1, 10, 0)) == paris(2025, 6, 2, 12, 0)


def test_budget_ending_at_closing_time_is_closing_time() -> None:
    assert due(REAL, paris(2025, 6, 2, 14, 0)) == paris(2025, 6, 2, 18, 0)


def test_start_at_closing_time_waits_for_the_next_opening() -> None:
    assert due(REAL, paris(2025, 6, 2, 18, 0)) == paris(2025, 6, 3, 12, 0)
    assert due(REAL, paris(2025, 6, 3, 6, 0)) == paris(2025, 6, 3, 12, 0)


@pytest.mark.parametrize(
    ("holiday", "resumes"),
    [
        ((2025, 5, 1), (2025, 5, 2)),  # Fête du Travail, Thursday
        ((2025, 5, 8), (2025, 5, 9)),  # Victoire 1945, Thursday
        ((2025, 5, 29), (2025, 5, 30)),  # Ascension
        ((2025, 6, 9), (2025, 6, 10)),  # Whit Monday
        ((2025, 7, 14), (2025, 7, 15)),
        ((2025, 8, 15), (2025, 8, 16)),  # Friday: Saturday is in the schedule
        ((2025, 11, 1), (2025, 11, 3)),  # Saturday: Sunday is not
        ((2025, 11, 11), (2025, 11, 12)),
        ((2025, 12, 25), (2025, 12, 26)),  # 26 December is not a holiday outside Alsace-Moselle
        ((2026, 5, 1), (2026, 5, 2)),
        ((2026, 5, 8), (2026, 5, 9)),
        ((2026, 5, 14), (2026, 5, 15)),  # Ascension 2026
        ((2026, 5, 25), (2026, 5, 26)),  # Whit Monday 2026
        ((2026, 7, 14), (2026, 7, 15)),
        ((2026, 8, 15), (2026, 8, 17)),  # Saturday
        ((2026, 11, 1), (2026, 11, 2)),  # Sunday
        ((2026, 11, 11), (2026, 11, 12)),
        ((2026, 12, 25), (2026, 12, 26)),
    ],
)
def test_public_holidays_are_skipped(
    holiday: tuple[int, int, int], resumes: tuple[int, int, int]
) -> None:
    assert due(REAL, paris(*holiday, 9, 0)) == paris(*resumes, 12, 0)


def test_holiday_bridge_counts_the_friday_after_ascension() -> None:
    # Wednesday 17:00: one hour; Ascension Thursday skipped; the Friday "pont" is worked.
    assert due(REAL, paris(2025, 5, 28, 17, 0)) == paris(2025, 5, 30, 11, 0)


def test_weekend_then_whit_monday_are_skipped_together() -> None:
    assert due(REAL, paris(2025, 6, 7, 17, 0)) == paris(2025, 6, 10, 11, 0)
    assert due("GTR S1 4h HO", paris(2025, 6, 6, 17, 0)) == paris(2025, 6, 10, 11, 0)


@pytest.mark.parametrize("site", [MOSELLE, ALSACE])
def test_alsace_moselle_skips_good_friday_and_26_december(site: Site) -> None:
    ho = "GTR S1 4h HO"
    # Thursday before Good Friday 2025, 16:00: Friday, the weekend and Easter Monday are off.
    assert due(ho, paris(2025, 4, 17, 16, 0), site=site) == paris(2025, 4, 22, 10, 0)
    assert due(ho, paris(2025, 4, 17, 16, 0)) == paris(2025, 4, 18, 10, 0)
    assert due(ho, paris(2026, 4, 2, 16, 0), site=site) == paris(2026, 4, 7, 10, 0)
    # Christmas Eve 2025 (Wednesday), 16:00: 25 and 26 December are off, then the weekend.
    assert due(ho, paris(2025, 12, 24, 16, 0), site=site) == paris(2025, 12, 29, 10, 0)
    assert due(ho, paris(2025, 12, 24, 16, 0)) == paris(2025, 12, 26, 10, 0)


def test_martinique_counts_in_its_zone_with_its_holidays() -> None:
    site = Site(tz="America/Martinique", country="FR", subdiv="972")
    start = datetime(2025, 5, 21, 16, 0, tzinfo=MARTINIQUE)  # 22 May: abolition of slavery
    assert due("GTR S1 4h HO", start, site=site) == datetime(2025, 5, 23, 10, 0, tzinfo=MARTINIQUE)
    # The same start counted in Paris (22:00 there): Thursday 08:00-10:00 Paris time.
    assert due("GTR S1 4h HO", start) == paris(2025, 5, 22, 12, 0)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (paris(2025, 3, 30, 0, 30), paris(2025, 3, 30, 5, 30)),  # spring forward: 4 real hours
        (paris(2025, 10, 26, 0, 30), paris(2025, 10, 26, 3, 30)),  # fall back
        (paris(2026, 3, 29, 0, 30), paris(2026, 3, 29, 5, 30)),
        (paris(2026, 10, 25, 0, 30), paris(2026, 10, 25, 3, 30)),
    ],
)
def test_around_the_clock_counts_real_hours_across_dst(start: datetime, expected: datetime) -> None:
    at = due("GTR S1 4h 24/7", start)
    assert at == expected
    assert at.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=4)  # real time


def test_around_the_clock_counts_holidays() -> None:
    assert due("GTR S1 4h HNO", paris(2025, 12, 25, 9, 0)) == paris(2025, 12, 25, 13, 0)


def test_business_schedule_across_dst_keeps_wall_hours() -> None:
    # Saturday 17:00 CET; Sunday 30 March skipped; Monday 08:00 CEST + 3 h.
    assert due(REAL, paris(2025, 3, 29, 17, 0)) == paris(2025, 3, 31, 11, 0)
    every_day = "GTR 240 mn Lundi au Dimanche 8h à 18h"
    at = due(every_day, paris(2025, 3, 29, 17, 0))
    assert at == paris(2025, 3, 30, 11, 0)
    elapsed = at.astimezone(UTC) - paris(2025, 3, 29, 17, 0).astimezone(UTC)
    assert elapsed == timedelta(hours=17)  # the night lost an hour
    assert due(every_day, paris(2025, 10, 25, 17, 0)) == paris(2025, 10, 26, 11, 0)


def test_local_day_of_23_hours_counts_23_hours() -> None:
    assert due("GTR 24h Lundi au Dimanche 0h à 24h", paris(2025, 3, 30, 0, 0)) == paris(
        2025, 3, 31, 1, 0
    )
    assert due("GTR 24h Lundi au Dimanche 0h à 24h", paris(2025, 10, 26, 0, 0)) == paris(
        2025, 10, 26, 23, 0
    )


def test_opening_in_the_skipped_hour_opens_when_the_clock_lands() -> None:
    start = paris(2025, 3, 30, 0, 0)
    assert due("GTR 30 mn Lundi au Dimanche 2h30 à 18h", start) == paris(2025, 3, 30, 3, 30)


@pytest.mark.parametrize(
    ("commitment", "start", "expected"),
    [
        ("GTR S1 4h HO", paris(2025, 5, 30, 16, 0), paris(2025, 6, 2, 10, 0)),
        ("GTR S1 4h HNO", paris(2025, 5, 30, 16, 0), paris(2025, 5, 30, 20, 0)),
        (
            "GTR S3 4h Lundi au Vendredi 8h30 à 17h30",
            paris(2025, 5, 30, 15, 30),
            paris(2025, 6, 2, 10, 30),
        ),
        (
            "GTR S3 8 h Lundi au Vendredi 8h à 18h",
            paris(2025, 6, 2, 8, 0),
            paris(2025, 6, 2, 16, 0),
        ),
        (
            "GTR S3 24 h Lundi au Vendredi 8h à 18h",
            paris(2025, 6, 2, 8, 0),
            paris(2025, 6, 4, 12, 0),
        ),
    ],
)
def test_schedule_variants(commitment: str, start: datetime, expected: datetime) -> None:
    assert due(commitment, start) == expected


# --- pauses ---------------------------------------------------------------------------------


def test_pause_inside_the_schedule_shifts_the_deadline() -> None:
    pause = Pause(paris(2025, 5, 30, 10, 0), paris(2025, 5, 30, 10, 30))
    assert due(REAL, paris(2025, 5, 30, 9, 52), pauses=[pause]) == paris(2025, 5, 30, 14, 22)


def test_pause_outside_the_schedule_shifts_nothing() -> None:
    start = paris(2025, 5, 30, 16, 0)
    assert due(REAL, start) == paris(2025, 5, 31, 10, 0)
    night = (paris(2025, 5, 30, 18, 30), paris(2025, 5, 31, 7, 0))
    assert due(REAL, start, pauses=[night]) == paris(2025, 5, 31, 10, 0)
    before = (paris(2025, 5, 29, 9, 0), paris(2025, 5, 30, 15, 0))
    assert due(REAL, start, pauses=[before]) == paris(2025, 5, 31, 10, 0)


def test_pause_across_closing_and_opening() -> None:
    # Frozen Friday 17:00 to Saturday 09:00: one hour Friday, then from 09:00 Saturday.
    freeze = (paris(2025, 5, 30, 17, 0), paris(2025, 5, 31, 9, 0))
    assert due(REAL, paris(2025, 5, 30, 16, 0), pauses=[freeze]) == paris(2025, 5, 31, 12, 0)


def test_overlapping_and_unsorted_pauses_count_once() -> None:
    pauses = [
        (paris(2025, 5, 30, 11, 0), paris(2025, 5, 30, 11, 45)),
        (paris(2025, 5, 30, 10, 0), paris(2025, 5, 30, 11, 30)),
        (paris(2025, 5, 30, 10, 0), paris(2025, 5, 30, 10, 0)),  # empty
    ]
    assert due(REAL, paris(2025, 5, 30, 9, 52), pauses=pauses) == paris(2025, 5, 30, 15, 37)


def test_pause_covering_the_start_delays_the_first_minute() -> None:
    pause = (paris(2025, 5, 30, 9, 0), paris(2025, 5, 30, 10, 0))
    assert due(REAL, paris(2025, 5, 30, 9, 52), pauses=[pause]) == paris(2025, 5, 30, 14, 0)


def test_pause_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        due(
            REAL,
            paris(2025, 5, 30, 9, 52),
            pauses=[(paris(2025, 5, 30, 11), paris(2025, 5, 30, 10))],
        )


# --- business time, warnings, outcomes --------------------------------------------------------


def test_instant_at_percent_schedules_the_warnings() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 31, 15, 0)
    at = {p: instant_at_percent(contract, start, p).astimezone(PARIS) for p in (0, 50, 75, 100)}
    assert at == {
        0: start,
        50: paris(2025, 5, 31, 17, 0),
        75: paris(2025, 5, 31, 18, 0),  # the 180th minute ends at Saturday's closing
        100: paris(2025, 6, 2, 9, 0),
    }
    assert at[100] == deadline(contract, start)
    with pytest.raises(ValueError, match="negative"):
        instant_at_percent(contract, start, -1)


def test_instant_at_percent_of_an_odd_budget() -> None:
    contract = parse_commitment("GTR 45 mn HNO")
    start = paris(2025, 6, 2, 9, 0)
    assert instant_at_percent(contract, start, 75) == start + timedelta(minutes=33, seconds=45)


def test_business_minutes_used_skip_closed_hours_and_pauses() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 31, 17, 0)
    until = paris(2025, 6, 2, 9, 30)
    assert business_time_used(contract, start, until) == timedelta(minutes=150)
    pauses = [(paris(2025, 6, 2, 8, 0), paris(2025, 6, 2, 8, 20))]
    assert business_minutes_used(contract, start, until, pauses=pauses) == 130
    assert business_minutes_used(contract, start, start - timedelta(hours=1)) == 0
    partial = paris(2025, 5, 31, 17, 0, 1)
    assert business_minutes_used(contract, start, partial) == 1  # a started minute is used


def test_outcome_restored_in_time() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 30, 9, 52)
    record = outcome(contract, start, restored_at=paris(2025, 5, 30, 12, 0))
    assert record.state is ClockState.RESTORED
    assert (record.business_minutes_used, record.met, record.margin_minutes) == (128, True, 112)
    assert record.deadline == paris(2025, 5, 30, 13, 52)
    assert record.restored_at == paris(2025, 5, 30, 12, 0)
    assert record.start.tzinfo is UTC


def test_outcome_restored_exactly_at_the_deadline_is_met() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 30, 9, 52)
    record = outcome(contract, start, restored_at=paris(2025, 5, 30, 13, 52))
    assert (record.met, record.margin_minutes) == (True, 0)


def test_outcome_breached() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 30, 9, 52)
    record = outcome(contract, start, restored_at=paris(2025, 5, 30, 14, 10))
    assert (record.business_minutes_used, record.met, record.margin_minutes) == (258, False, -18)


def test_outcome_breached_after_closing_keeps_margin_zero() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 6, 2, 14, 0)
    record = outcome(contract, start, restored_at=paris(2025, 6, 2, 19, 0))
    assert (record.business_minutes_used, record.met, record.margin_minutes) == (240, False, 0)


def test_outcome_with_pause() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 30, 9, 52)
    freeze = [(paris(2025, 5, 30, 10, 0), paris(2025, 5, 30, 11, 0))]
    record = outcome(contract, start, pauses=freeze, restored_at=paris(2025, 5, 30, 14, 10))
    assert (record.business_minutes_used, record.met, record.margin_minutes) == (198, True, 42)
    assert record.deadline == paris(2025, 5, 30, 14, 52)


def test_closure_without_restoration_cancels_the_clock() -> None:
    contract, start = parse_commitment(REAL), paris(2025, 5, 30, 9, 52)
    record = outcome(contract, start, closed_at=paris(2025, 5, 30, 16, 0))
    assert record.state is ClockState.CANCELLED
    assert (record.met, record.margin_minutes, record.business_minutes_used) == (None, None, None)
    assert record.closed_at == paris(2025, 5, 30, 16, 0)
    running = outcome(contract, start)
    assert running.state is ClockState.RUNNING and running.met is None
    closed_after = outcome(
        contract, start, restored_at=paris(2025, 5, 30, 12), closed_at=paris(2025, 6, 2, 9)
    )
    assert closed_after.state is ClockState.RESTORED and closed_after.met is True


# --- what the clock refuses -----------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    contract = parse_commitment(REAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(contract, datetime(2025, 5, 30, 9, 52))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        outcome(contract, paris(2025, 5, 30, 9, 52), restored_at=datetime(2025, 5, 30, 12))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("site", "field"),
    [
        (Site(tz="Europe/Pariss"), "tz"),
        (Site(tz="Europe"), "tz"),
        (Site(tz="../etc/passwd"), "tz"),
        (Site(country="XX"), "country"),
        (Site(subdiv="99"), "subdiv"),
    ],
)
def test_unknown_site_calendar_is_named(site: Site, field: str) -> None:
    with pytest.raises(UnknownCalendar) as caught:
        deadline(parse_commitment(REAL), paris(2025, 5, 30, 9, 52), site=site)
    assert caught.value.field == field


def test_site_codes_are_the_holidays_package_codes() -> None:
    assert resolve_site(Site(country="fr", subdiv="moselle")) == Site("Europe/Paris", "FR", "57")
    assert resolve_site(Site(subdiv="6ae")).subdiv == "6AE"
    assert resolve_site(Site(subdiv="Martinique")).subdiv == "972"
    assert resolve_site(Site(subdiv=" ")).subdiv is None
