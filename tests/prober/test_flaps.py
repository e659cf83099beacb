"""Flap detection: dampening, coalescing, hysteresis, stable-since, Icinga; with properties."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_prober.flaps import (
    DEFAULT_POLICY,
    DampeningPolicy,
    active_alarm,
    cuts,
    flapping_at,
    flaps_in,
    icinga_flapping,
    penalty_at,
    stable_since,
)
from vigie_prober.schemas import AlarmEvent, EventKind

PARIS = ZoneInfo("Europe/Paris")
LOC = "Loss of continuity (LOC)"
RDI = "Remote defect indication (RDI)"
T0 = datetime(2025, 6, 16, 9, 0, tzinfo=PARIS)


def event(
    at: datetime,
    kind: EventKind = EventKind.RAISE,
    *,
    alarm: str = LOC,
    source: str = "4.1.24.14",
    link: bool = True,
    device: str | None = None,
) -> AlarmEvent:
    return AlarmEvent(
        at=at, alarm=alarm, source=source, kind=kind, link=link, device=device, line=f"{alarm}"
    )


def design_log() -> list[AlarmEvent]:
    """The ETX-203AM alarm log of design.md §1, as the RAD driver would give it."""
    return [
        event(datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS), EventKind.CLEAR, alarm=RDI,
              source="4.2.24.14"),
        event(datetime(2025, 6, 16, 16, 10, 37, tzinfo=PARIS), EventKind.CLEAR),
        event(datetime(2025, 6, 16, 16, 8, 43, tzinfo=PARIS)),
    ]  # fmt: skip


def flapping_log(count: int = 5, spacing: timedelta = timedelta(minutes=3)) -> list[AlarmEvent]:
    """``count`` cuts ``spacing`` apart from T0, each cleared 30 s later."""
    log: list[AlarmEvent] = []
    for n in range(count):
        at = T0 + n * spacing
        log += [event(at), event(at + timedelta(seconds=30), EventKind.CLEAR)]
    return log


# The real log of design.md §1


def test_design_log_is_stable_since_the_last_clear() -> None:
    now = datetime(2025, 6, 19, 10, 0, tzinfo=PARIS)
    since = stable_since(design_log(), now=now)
    assert since == datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS)
    assert since is not None
    assert since.isoformat() == "2025-06-16T16:10:44+02:00"
    assert not flapping_at(design_log(), now=now)
    assert flaps_in(design_log()) == 1
    assert active_alarm(design_log()) is None


def test_design_log_is_not_yet_stable_before_the_quiet_interval() -> None:
    now = datetime(2025, 6, 16, 16, 40, 44, tzinfo=PARIS)
    assert stable_since(design_log(), now=now) is None
    assert stable_since(design_log(), now=now + timedelta(minutes=30)) is not None


# Dampening


def test_one_cut_adds_the_penalty_and_halves_every_half_life() -> None:
    log = [event(T0)]
    assert penalty_at(log, now=T0) == 1000.0
    assert penalty_at(log, now=T0 + timedelta(minutes=15)) == pytest.approx(500.0)
    assert penalty_at(log, now=T0 + timedelta(minutes=30)) == pytest.approx(250.0)


def test_clears_and_other_alarms_add_nothing() -> None:
    log = [
        event(T0, EventKind.CLEAR),
        event(T0, alarm="Power supply failure", source="PS1", link=False),
    ]
    assert penalty_at(log, now=T0) == 0.0
    assert cuts(log) == []


def test_raises_after_now_are_ignored_by_the_penalty() -> None:
    assert penalty_at([event(T0 + timedelta(minutes=1))], now=T0) == 0.0


def test_five_cuts_three_minutes_apart_flap_then_settle() -> None:
    log = flapping_log()
    last = T0 + timedelta(minutes=12, seconds=30)
    assert flapping_at(log, now=last + timedelta(minutes=1))
    assert penalty_at(log, now=last) > DEFAULT_POLICY.suppress
    assert flaps_in(log) == 5
    later = last + timedelta(hours=2)
    assert not flapping_at(log, now=later)
    assert stable_since(log, now=later) == last


def test_two_cuts_never_flap_with_the_defaults() -> None:
    log = flapping_log(count=2, spacing=timedelta(seconds=61))
    assert penalty_at(log, now=T0 + timedelta(seconds=61)) < 2000
    assert not flapping_at(log, now=T0 + timedelta(seconds=61))


# Coalescing


def test_loc_and_rdi_of_one_cut_count_once() -> None:
    log = [event(T0), event(T0 + timedelta(seconds=10), alarm=RDI, source="4.2.24.14")]
    found = cuts(log)
    assert len(found) == 1
    assert found[0].first.alarm == LOC
    assert len(found[0].events) == 2
    assert penalty_at(log, now=T0 + timedelta(seconds=10)) == 1000.0


def test_both_ends_of_a_p2p_link_in_one_paste_count_once() -> None:
    log = [event(T0, device="A"), event(T0 + timedelta(seconds=20), device="B")]
    assert flaps_in(log) == 1


def test_raises_ninety_seconds_apart_are_two_cuts() -> None:
    log = [event(T0, device="A"), event(T0 + timedelta(seconds=90), device="B")]
    assert flaps_in(log) == 2
    assert [c.at for c in cuts(log)] == [T0, T0 + timedelta(seconds=90)]


def test_the_coalescing_window_is_inclusive() -> None:
    assert flaps_in([event(T0), event(T0 + timedelta(seconds=60))]) == 1
    assert flaps_in([event(T0), event(T0 + timedelta(seconds=61))]) == 2


def test_a_burst_longer_than_the_window_is_several_cuts() -> None:
    log = [event(T0 + timedelta(seconds=s)) for s in (0, 50, 100)]
    assert [len(c.events) for c in cuts(log)] == [1, 2]


def test_a_raise_inside_a_gap_never_moves_a_cut_earlier() -> None:
    # Cutting forward from the first raise would make 65 s a new cut and swallow 70 s.
    log = [event(T0), event(T0 + timedelta(seconds=70))]
    now = T0 + timedelta(minutes=5)
    more = [*log, event(T0 + timedelta(seconds=65), alarm=RDI)]
    assert penalty_at(more, now=now) == pytest.approx(penalty_at(log, now=now))
    assert flaps_in(more) == 2


def test_flaps_are_counted_from_since_until_until() -> None:
    log = flapping_log()
    assert flaps_in(log, since=T0 + timedelta(minutes=5)) == 3
    assert flaps_in(log, since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=7)) == 1


# Hysteresis


def test_three_quick_cuts_flap_and_keep_flapping_until_below_reuse() -> None:
    three, two = flapping_log(count=3), flapping_log(count=2)
    last = T0 + timedelta(minutes=6)
    assert flapping_at(three, now=last)
    # Ten minutes on, the penalty (~1650) is under suppress, yet still above reuse.
    ten_on = last + timedelta(minutes=10)
    assert 750 < penalty_at(three, now=ten_on) < 2000
    assert flapping_at(three, now=ten_on)
    # Two cuts reach ~1870: the same range, never having gone above suppress.
    assert 750 < penalty_at(two, now=T0 + timedelta(minutes=3)) < 2000
    assert not flapping_at(two, now=T0 + timedelta(minutes=3))
    # Thirty minutes on, it fell below reuse (~657).
    assert not flapping_at(three, now=last + timedelta(minutes=30))


def test_flapping_ends_during_a_quiet_gap_even_if_a_later_raise_lifts_the_penalty() -> None:
    log = [*flapping_log(count=3), event(T0 + timedelta(minutes=36))]
    now = T0 + timedelta(minutes=36)
    assert 750 < penalty_at(log, now=now) < 2000
    assert not flapping_at(log, now=now)


def test_the_policy_is_configurable_and_checked() -> None:
    strict = DampeningPolicy(suppress=1500.0, reuse=500.0)
    log = flapping_log(count=2)
    assert flapping_at(log, now=T0 + timedelta(minutes=3), policy=strict)
    with pytest.raises(ValueError, match="reuse"):
        DampeningPolicy(reuse=3000.0)
    with pytest.raises(ValueError, match="half_life"):
        DampeningPolicy(half_life=timedelta(0))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="now"):
        penalty_at([], now=datetime(2025, 6, 16))  # noqa: DTZ001 - the point of the test


# Stable since and active alarms


def test_an_alarm_raised_and_not_cleared_is_active_and_not_stable() -> None:
    log = [*design_log(), event(T0 + timedelta(days=1), source="4.3.24.14")]
    found = active_alarm(log)
    assert found is not None
    assert found.source == "4.3.24.14"
    assert stable_since(log, now=T0 + timedelta(days=3)) is None


def test_a_clear_matches_its_raise_by_device_source_and_alarm() -> None:
    raised = event(T0, device="A")
    assert active_alarm([raised, event(T0 + timedelta(seconds=5), EventKind.CLEAR, device="B")])
    assert active_alarm([raised, event(T0 + timedelta(seconds=5), EventKind.CLEAR, alarm=RDI)])
    assert (
        active_alarm([raised, event(T0 + timedelta(seconds=5), EventKind.CLEAR, device="A")])
        is None
    )


def test_the_oldest_active_alarm_is_reported() -> None:
    log = [event(T0 + timedelta(hours=1), alarm=RDI), event(T0), event(T0 + timedelta(hours=2))]
    found = active_alarm(log)
    assert found is not None
    assert found.at == T0


def test_an_active_alarm_blocks_stable_since_even_with_a_later_clear() -> None:
    log = [event(T0), event(T0 + timedelta(minutes=1), EventKind.CLEAR, alarm=RDI)]
    assert stable_since(log, now=T0 + timedelta(days=1)) is None


def test_other_alarms_do_not_move_stable_since() -> None:
    power = event(T0 + timedelta(days=1), alarm="Power supply failure", source="PS1", link=False)
    now = datetime(2025, 6, 19, tzinfo=PARIS)
    assert stable_since([*design_log(), power], now=now) == stable_since(design_log(), now=now)


def test_a_log_without_link_clear_has_no_stable_since() -> None:
    assert stable_since([], now=T0) is None


# Icinga 2, for ping series


def samples(changes_at: set[int]) -> list[bool]:
    """21 samples whose change bits (i = 0..19, oldest first) are set at ``changes_at``."""
    states = [True]
    for i in range(20):
        states.append(not states[-1] if i in changes_at else states[-1])
    return states


def test_icinga_steady_series_does_not_flap() -> None:
    assert icinga_flapping([True] * 30, previous=False) == (False, 0.0)
    assert icinga_flapping([], previous=True) == (False, 0.0)


def test_icinga_alternating_series_flaps_at_99_percent() -> None:
    assert icinga_flapping([n % 2 == 0 for n in range(40)], previous=False) == (True, 99.0)


def test_icinga_recent_changes_weigh_more() -> None:
    assert icinga_flapping(samples({0}), previous=False)[1] == 4.0
    assert icinga_flapping(samples({19}), previous=False)[1] == 5.9


def test_icinga_hysteresis_between_25_and_30_percent() -> None:
    states = samples({0, 1, 2, 3, 9, 15})  # 6 x 4 + (0+1+2+3+9+15) / 10 = 27 %
    assert icinga_flapping(states, previous=False) == (False, 27.0)
    assert icinga_flapping(states, previous=True) == (True, 27.0)
    exactly_25 = samples({6, 8, 10, 12, 14})
    assert icinga_flapping(exactly_25, previous=True) == (False, 25.0)
    above_30 = samples({13, 14, 15, 16, 17, 18, 19})
    assert icinga_flapping(above_30, previous=False) == (True, 39.2)


def test_icinga_only_the_last_twenty_samples_count() -> None:
    old_changes = [n % 2 == 0 for n in range(20)] + [True] * 21
    assert icinga_flapping(old_changes, previous=False) == (False, 0.0)


def test_icinga_short_series_fill_the_newest_positions() -> None:
    assert icinga_flapping([True, False], previous=False) == (False, 5.9)


# Properties

_BASE = datetime(2025, 6, 16, 8, 0, tzinfo=PARIS)
events_strategy = st.lists(
    st.builds(
        event,
        st.integers(min_value=0, max_value=6 * 3600).map(lambda s: _BASE + timedelta(seconds=s)),
        st.sampled_from(EventKind),
        alarm=st.sampled_from([LOC, RDI]),
        source=st.sampled_from(["4.1.24.14", "4.2.24.14"]),
        link=st.booleans(),
        device=st.sampled_from([None, "A", "B"]),
    ),
    max_size=25,
)
moments = st.integers(min_value=0, max_value=8 * 3600).map(lambda s: _BASE + timedelta(seconds=s))


@given(events_strategy, st.randoms(use_true_random=False), moments)
def test_input_order_does_not_matter(log, random, now) -> None:
    shuffled = list(log)
    random.shuffle(shuffled)
    assert penalty_at(shuffled, now=now) == penalty_at(log, now=now)
    assert flapping_at(shuffled, now=now) == flapping_at(log, now=now)
    assert stable_since(shuffled, now=now) == stable_since(log, now=now)
    assert cuts(shuffled) == cuts(log)
    assert active_alarm(shuffled) == active_alarm(log)


@given(events_strategy, moments, moments, st.sampled_from([None, "A"]))
def test_an_extra_raise_never_lowers_the_penalty(log, at, now, device) -> None:
    more = [*log, event(at, device=device)]
    before = penalty_at(log, now=now)
    assert penalty_at(more, now=now) >= before - 1e-9 * max(before, 1.0)
    assert flaps_in(more, until=now) >= flaps_in(log, until=now)


@given(events_strategy, moments, moments)
def test_an_extra_clear_never_raises_the_penalty(log, at, now) -> None:
    more = [*log, event(at, EventKind.CLEAR)]
    assert penalty_at(more, now=now) <= penalty_at(log, now=now)


@given(events_strategy, st.integers(0, 10 * 3600), st.integers(0, 10 * 3600))
def test_the_penalty_decays_after_the_last_raise(log, first, second) -> None:
    last = max((e.at for e in log), default=_BASE)
    early, late = sorted((first, second))
    at_early = penalty_at(log, now=last + timedelta(seconds=early))
    at_late = penalty_at(log, now=last + timedelta(seconds=late))
    assert at_late <= at_early


@given(st.lists(st.booleans(), max_size=40), st.booleans())
def test_icinga_value_stays_within_bounds(states, previous) -> None:
    flapping, value = icinga_flapping(states, previous=previous)
    assert 0.0 <= value <= 99.0
    assert flapping == (value > (25.0 if previous else 30.0))
