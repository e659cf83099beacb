"""GTR deadline throughput: ``uv run python -m bench.notifier.deadlines``.

One run builds a fixed, seeded mix of tickets (several commitments; Europe/Paris, Europe/Paris
with the Moselle subdivision ``57`` and America/Martinique with ``972``; starts spread over
2025-2026 with extra weight on public holidays, their eves, DST days and the exact opening and
closing minutes) and times, on the same cases and without pauses:

1. vigie's ``deadline`` (the contract read through ``parse_commitment``, cached like in the
   service): a first pass in this fresh process (*cold*: holiday sets and each day's open
   hours are computed as they are met), then the best of three passes (*warm*);
2. the ``businesstimedelta`` package: a ``WorkDayRule`` per schedule and a ``HolidayRule`` fed
   the same ``holidays`` dates (as a frozenset, its fastest input), ``start + delta``.

Every case is then compared. The two agree by definition on the business schedules (a budget
running out at closing time ends at closing time in both). ``24/7`` has no exact spelling in
``businesstimedelta`` (a ``WorkDayRule`` cannot end at 24:00): it gets 00:00-23:59:59.999999
every day in UTC, which loses one microsecond per midnight crossed, so deadlines are compared
to the millisecond. Any other difference is listed with its case.

Targets are reported, not asserted; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, Final
from zoneinfo import ZoneInfo

import holidays
import pytz  # type: ignore[import-untyped]
from businesstimedelta import (  # type: ignore[import-untyped]
    BusinessTimeDelta,
    HolidayRule,
    Rules,
    WorkDayRule,
)
from vigie_notifier.gtr import Site, deadline
from vigie_notifier.gtr_contract import Contract, parse_commitment

from bench.ingest.report import Target, json_line

COMMITMENTS: Final = (
    "GTR S2 240 mn Lundi au Samedi 8h à 18h",  # the real ticket's (design §1)
    "GTR S1 4h HO",
    "GTR S3 8 h Lundi au Vendredi 8h30 à 17h30",
    "GTR S2 4h 24/7",
    "GTR S4 24h HO",  # two and a half business days: longer walks
)
SITES: Final = (
    Site(),
    Site(subdiv="57"),
    Site(tz="America/Martinique", country="FR", subdiv="972"),
)
FIRST_DAY: Final = date(2025, 1, 1)
LAST_DAY: Final = date(2026, 12, 31)
DST_DAYS: Final = (date(2025, 3, 30), date(2025, 10, 26), date(2026, 3, 29), date(2026, 10, 25))
HOLIDAY_YEARS: Final = range(2024, 2031)  # businesstimedelta looks for the *next* holiday
TOLERANCE: Final = timedelta(milliseconds=1)
SHOWN: Final = 5
TARGETS: Final = (
    Target("vigie_cold_per_s", "vigie deadlines/s, cold first pass", ">=", 50_000, "/s"),
    Target("vigie_per_s", "vigie deadlines/s, warm", ">=", 50_000, "/s"),
    Target("ratio_vs_btd", "vigie cold vs businesstimedelta", ">=", 2.0, "x"),
    Target("mismatches", "deadlines that disagree", "<=", 0, ""),
)
_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the run started."""
    print(f"[bench {time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


@dataclass(frozen=True, slots=True)
class Case:
    """One ticket: its commitment, its site and its creation instant (UTC)."""

    commitment: str
    site: Site
    start: datetime


def _holiday_dates(site: Site) -> frozenset[date]:
    return frozenset(
        holidays.country_holidays(site.country, subdiv=site.subdiv, years=HOLIDAY_YEARS)
    )


def _special_days(site: Site) -> list[date]:
    """The site's public holidays and the DST days, with the eve of each, within 2025-2026."""
    days = {d + timedelta(days=n) for d in (*_holiday_dates(site), *DST_DAYS) for n in (-1, 0)}
    return sorted(d for d in days if FIRST_DAY <= d <= LAST_DAY)


def build_cases(count: int, seed: int) -> list[Case]:
    """The seeded mix: 60 % any minute, 25 % special days, 15 % opening or closing minutes."""
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days + 1
    special = {site: _special_days(site) for site in SITES}
    cases = []
    for _ in range(count):
        commitment, site = rng.choice(COMMITMENTS), rng.choice(SITES)
        draw = rng.random()
        if draw < 0.60:
            day, minute = FIRST_DAY + timedelta(days=rng.randrange(span)), rng.randrange(1440)
        elif draw < 0.85:
            day, minute = rng.choice(special[site]), rng.randrange(1440)
        else:
            schedule = parse_commitment(commitment).schedule
            day = FIRST_DAY + timedelta(days=rng.randrange(span))
            minute = rng.choice((schedule.opens, schedule.closes % 1440))
        local = datetime(
            day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=ZoneInfo(site.tz)
        )
        cases.append(Case(commitment, site, local.astimezone(UTC)))
    return cases


def run_vigie(cases: Sequence[Case]) -> tuple[float, list[datetime]]:
    """Wall seconds for all deadlines, and the deadlines."""
    out: list[datetime] = []
    append = out.append
    began = time.perf_counter()
    for case in cases:
        append(deadline(parse_commitment(case.commitment), case.start, site=case.site))
    return time.perf_counter() - began, out


def run_vigie_paused(cases: Sequence[Case]) -> float:
    """Wall seconds with two freezes per ticket (an hour after 30 min, two hours a day later)."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    pauses = [
        ((c.start + hour / 2, c.start + hour * 1.5), (c.start + day, c.start + day + 2 * hour))
        for c in cases
    ]
    began = time.perf_counter()
    for case, frozen in zip(cases, pauses, strict=True):
        deadline(parse_commitment(case.commitment), case.start, site=case.site, pauses=frozen)
    return time.perf_counter() - began


def _btd_delta(contract: Contract, site: Site) -> BusinessTimeDelta:
    schedule = contract.schedule
    if schedule.around_the_clock:
        rule = WorkDayRule(clock_time(0), clock_time.max, list(range(7)), tz=pytz.utc)
    else:
        zone = pytz.timezone(site.tz)
        opens = clock_time(schedule.opens // 60, schedule.opens % 60)
        closes = clock_time(schedule.closes // 60, schedule.closes % 60)
        work = WorkDayRule(opens, closes, list(schedule.days), tz=zone)
        rule = Rules([work, HolidayRule(_holiday_dates(site), tz=zone)])
    return BusinessTimeDelta(rule, seconds=contract.budget_minutes * 60)


def run_btd(cases: Sequence[Case]) -> tuple[float, list[datetime]]:
    """Wall seconds for all deadlines with ``businesstimedelta`` (rules built beforehand)."""
    deltas = {(c, s): _btd_delta(parse_commitment(c), s) for c in COMMITMENTS for s in SITES}
    out: list[datetime] = []
    append = out.append
    began = time.perf_counter()
    for case in cases:
        append(case.start + deltas[case.commitment, case.site])
    return time.perf_counter() - began, out


def compare(
    cases: Sequence[Case], ours: Sequence[datetime], theirs: Sequence[datetime]
) -> dict[str, Any]:
    """Count the cases whose deadlines differ by more than the tolerance; show a few."""
    gaps = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
    differ = [i for i, gap in enumerate(gaps) if gap > TOLERANCE]
    kinds = Counter(cases[i].commitment for i in differ)
    examples = []
    for i in differ[:SHOWN]:
        case, zone = cases[i], ZoneInfo(cases[i].site.tz)
        examples.append(
            f"{case.commitment!r} {case.site.tz}/{case.site.subdiv}"
            f" start {case.start.astimezone(zone).isoformat()}:"
            f" vigie {ours[i].astimezone(zone).isoformat()},"
            f" businesstimedelta {theirs[i].astimezone(zone).isoformat()}"
        )
    return {
        "compared": len(cases),
        "exactly_equal": gaps.count(timedelta(0)),
        "max_gap_within_tolerance_us": max(
            (gap // timedelta(microseconds=1) for gap in gaps if gap <= TOLERANCE), default=0
        ),
        "mismatches": len(differ),
        "mismatch_by_commitment": dict(kinds),
        "mismatch_examples": examples,
    }


def render(figures: dict[str, Any]) -> list[str]:
    """Human-readable lines: what was measured, then each target with PASS/MISS."""
    f = figures.__getitem__
    agree = f("compared") - f("mismatches")
    lines = [
        "",
        f"== GTR deadlines: {f('cases'):,} cases, {len(COMMITMENTS)} commitments x"
        f" {len(SITES)} sites, seed {f('seed')}, {f('cpu_count')} CPUs, Python {f('python')} ==",
        f"vigie cold (1st pass)  {f('vigie_cold_s'):8.3f} s  {f('vigie_cold_per_s'):>12,.0f} /s",
        f"vigie warm (best of 3) {f('vigie_s'):8.3f} s  {f('vigie_per_s'):>12,.0f} /s",
        f"vigie warm, 2 pauses   {f('vigie_paused_s'):8.3f} s"
        f"  {f('vigie_paused_per_s'):>12,.0f} /s   (no peer: businesstimedelta has no pauses)",
        f"businesstimedelta      {f('btd_s'):8.3f} s  {f('btd_per_s'):>12,.0f} /s",
        f"ratio vigie/btd        cold {f('ratio_vs_btd'):.1f}x"
        f"   warm {f('ratio_warm_vs_btd'):.1f}x",
        f"agreement              {agree:,} of {f('compared'):,} deadlines equal"
        f" (to {TOLERANCE.total_seconds() * 1000:g} ms), {f('exactly_equal'):,} to the"
        f" microsecond; the others {f('max_gap_within_tolerance_us')} µs apart at most",
    ]
    lines += [f"  differs: {example}" for example in f("mismatch_examples")]
    lines += ["", "targets:"]
    for target in TARGETS:
        value = f(target.key)
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        lines.append(
            f"  {target.verdict(value):4}  {target.label:36} {shown:>12} {target.unit:2}"
            f"  target {target.op} {target.threshold:,g}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Build the cases, time both, compare, print the figures and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.notifier.deadlines", description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000, help="tickets in the mix")
    parser.add_argument("--seed", type=int, default=20250530)
    args = parser.parse_args(argv)
    cases = build_cases(args.cases, args.seed)
    parse_commitment.cache_clear()  # the cold pass reads its contracts too
    say(f"{len(cases):,} cases built")
    cold_s, _ = run_vigie(cases)
    warm_s, ours = min((run_vigie(cases) for _ in range(3)), key=lambda run: run[0])
    paused_s = min(run_vigie_paused(cases) for _ in range(3))
    say(f"vigie: cold {cold_s:.3f} s, warm {warm_s:.3f} s, warm with pauses {paused_s:.3f} s")
    btd_s, theirs = run_btd(cases)
    say(f"businesstimedelta: {btd_s:.3f} s")
    figures: dict[str, Any] = {
        "cases": len(cases),
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "vigie_cold_s": cold_s,
        "vigie_cold_per_s": len(cases) / cold_s,
        "vigie_s": warm_s,
        "vigie_per_s": len(cases) / warm_s,
        "vigie_paused_s": paused_s,
        "vigie_paused_per_s": len(cases) / paused_s,
        "btd_s": btd_s,
        "btd_per_s": len(cases) / btd_s,
        "ratio_vs_btd": btd_s / cold_s,
        "ratio_warm_vs_btd": btd_s / warm_s,
        **compare(cases, ours, theirs),
    }
    figures["targets"] = {t.key: t.verdict(figures.get(t.key)) for t in TARGETS}
    figures["wall_s"] = time.monotonic() - _STARTED
    for line in render(figures):
        print(line)
    print(json_line(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
