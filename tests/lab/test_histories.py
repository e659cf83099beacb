"""Histories and the routers' printouts, pure: the seed is design §1's log on any day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from vigie_lab.drivers import PERSONALITIES
from vigie_lab.histories import cuts
from vigie_lab.kinds import AlarmsWhileObserved, Flapping, Scenario, Stable
from vigie_lab.payloads import CHUNK, garbage, huge
from vigie_lab.times import parse_relative
from vigie_prober.analysis import analyse

from tests.lab import NOW, rad_records

PARIS = ZoneInfo("Europe/Paris")
DESIGN_RECORDS = """\
2025-06-16  4.2.24.14   defRDICCM     Cleared
16:10:44.00                           Resolved
2025-06-16  4.1.24.14   defRemoteCCM  Cleared
16:10:37.00                           Resolved
2025-06-16  4.1.24.14   defRemoteCCM  Minor
16:08:43.00                           not-applicable
"""
SEED = Stable(kind="stable", since=parse_relative("-3d@16:10:44"))


def _rad(scenario: Scenario, *, started: datetime, now: datetime) -> str:
    found = cuts(scenario, started=started, now=now, tz=PARIS)
    return PERSONALITIES["rad_etx"].log(found, now=now, tz=PARIS)


def test_seed_log_is_the_design_log_in_its_column_layout() -> None:
    text = _rad(SEED, started=NOW, now=NOW)
    lines = text.splitlines()

    assert lines[0] == "1      Remote defect indication (RDI)"
    assert "\n".join([*lines[1:3], *lines[4:6], *lines[10:12]]) + "\n" == DESIGN_RECORDS
    assert [(r[1], r[3]) for r in rad_records(text)] == [
        ("Remote defect indication (RDI)", "16:10:44.00"),
        ("Loss of continuity (LOC)", "16:10:37.00"),
        ("Remote defect indication (RDI)", "16:08:44.00"),
        ("Loss of continuity (LOC)", "16:08:43.00"),
    ]


def test_seed_stays_three_days_before_any_start() -> None:
    started = datetime(2031, 1, 2, 7, 30, tzinfo=UTC)

    records = rad_records(_rad(SEED, started=started, now=started + timedelta(hours=5)))

    assert records[0][2:] == ("2030-12-30", "16:10:44.00")


def test_flapping_cycles_then_keeps_flapping_while_running() -> None:
    scenario = Flapping(
        kind="flapping", cycles=6, spacing=timedelta(minutes=10), last=parse_relative("-2m")
    )

    at_start = cuts(scenario, started=NOW, now=NOW, tz=PARIS)
    later = cuts(scenario, started=NOW, now=NOW + timedelta(minutes=25), tz=PARIS)

    assert len(at_start) == 6
    assert at_start[-1].end == NOW - timedelta(minutes=2)
    assert len(later) == 8
    assert [b.start - a.start for a, b in pairwise(later)] == [timedelta(minutes=10)] * 7


def test_alarms_arrive_while_observed_a_cut_in_progress_shows_only_its_raises() -> None:
    scenario = AlarmsWhileObserved(
        kind="alarms_while_observed",
        first_after=timedelta(minutes=1),
        every=timedelta(minutes=5),
        down_for=timedelta(seconds=30),
        count=3,
    )

    def records_at(seconds: int) -> list[tuple[int, str, str, str]]:
        return rad_records(_rad(scenario, started=NOW, now=NOW + timedelta(seconds=seconds)))

    assert len(records_at(0)) == 4  # the quiet past: one cut a day before
    assert len(records_at(65)) == 6  # LOC and RDI raised, not cleared yet
    assert len(records_at(120)) == 8
    assert len(records_at(3600)) == 16  # three cuts, then no more (count)


def test_cisco_show_logging_has_its_header_and_local_stamps() -> None:
    found = cuts(SEED, started=NOW, now=NOW, tz=PARIS)

    text = PERSONALITIES["cisco_ios"].log(found, now=NOW, tz=PARIS)

    assert text.startswith("Syslog logging: enabled")
    assert "Log Buffer (16384 bytes):\n\n" in text
    body = text.split("Log Buffer (16384 bytes):\n\n")[1].splitlines()
    assert body[1:] == [
        "Jun 16 16:08:43: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down",
        "Jun 16 16:08:44: %LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/1, "
        "changed state to down",
        "Jun 16 16:10:43: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
        "Jun 16 16:10:44: %LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/1, "
        "changed state to up",
    ]


def test_the_prober_reads_the_lab_as_the_scenarios_say() -> None:
    flapping = Flapping(
        kind="flapping", cycles=6, spacing=timedelta(minutes=10), last=parse_relative("-2m")
    )
    for driver in ("rad_etx", "cisco_ios"):
        personality = PERSONALITIES[driver]
        stable = personality.log(cuts(SEED, started=NOW, now=NOW, tz=PARIS), now=NOW, tz=PARIS)
        flaps = personality.log(cuts(flapping, started=NOW, now=NOW, tz=PARIS), now=NOW, tz=PARIS)
        junk = garbage("R1").decode("utf-8", "replace")

        assert analyse(stable, driver=driver, tz=PARIS, now=NOW)["stable_since"] == (
            "2025-06-16T16:10:44+02:00"
        )
        assert analyse(flaps, driver=driver, tz=PARIS, now=NOW)["verdict"] == "flapping"
        assert analyse(junk, driver=driver, tz=PARIS, now=NOW)["verdict"] == "inconclusive"


def test_huge_is_exact_and_made_in_bounded_chunks() -> None:
    pieces = list(huge(b"first\n", b"x" * 100_000, 1_000_003))

    assert sum(map(len, pieces)) == 1_000_003
    assert max(map(len, pieces)) <= CHUNK
    assert pieces[0] == b"first\n"


def test_garbage_is_junk_not_utf8_and_repeatable() -> None:
    junk = garbage("R1")

    assert junk == garbage("R1") != garbage("R2")
    assert b"%" not in junk
    assert not any(line[:1].isdigit() for line in junk.splitlines())
    with pytest.raises(UnicodeDecodeError):
        junk.decode("utf-8")
