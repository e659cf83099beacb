"""Verdicts per device and per ticket, by the reading rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from vigie_prober.schemas import AlarmEvent, EventKind, ParsedLog
from vigie_prober.verdicts import (
    DeviceVerdict,
    Verdict,
    duration,
    judge_device,
    judge_ticket,
)

PARIS = ZoneInfo("Europe/Paris")
LOC = "Loss of continuity (LOC)"
RDI = "Remote defect indication (RDI)"
T0 = datetime(2025, 6, 16, 9, 0, tzinfo=PARIS)
LAST_CLEAR = datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS)
TICKET_WORKED = datetime(2025, 6, 19, 10, 0, tzinfo=PARIS)


def event(
    at: datetime,
    kind: EventKind = EventKind.RAISE,
    *,
    alarm: str = LOC,
    source: str = "4.1.24.14",
    link: bool = True,
    device: str | None = None,
) -> AlarmEvent:
    return AlarmEvent(at=at, alarm=alarm, source=source, kind=kind, link=link, device=device,
                      line=alarm)  # fmt: skip


def parsed(*events: AlarmEvent, unparsed: tuple[str, ...] = ()) -> ParsedLog:
    return ParsedLog(events=events, unparsed=unparsed, recognised=True)


DESIGN_LOG = parsed(
    event(LAST_CLEAR, EventKind.CLEAR, alarm=RDI, source="4.2.24.14"),
    event(datetime(2025, 6, 16, 16, 10, 37, tzinfo=PARIS), EventKind.CLEAR),
    event(datetime(2025, 6, 16, 16, 8, 43, tzinfo=PARIS)),
)


def flapping_log(count: int = 5) -> ParsedLog:
    found: list[AlarmEvent] = []
    for n in range(count):
        at = T0 + n * timedelta(minutes=3)
        found += [event(at), event(at + timedelta(seconds=30), EventKind.CLEAR)]
    return parsed(*found)


def test_the_design_log_is_stable_since_the_last_clear() -> None:
    verdict = judge_device(DESIGN_LOG, now=TICKET_WORKED)
    assert verdict.verdict is Verdict.STABLE
    assert verdict.reason == "stable since 2025-06-16 16:10:44+02:00"
    assert verdict.stable_since == LAST_CLEAR
    assert verdict.flaps == 1
    assert verdict.penalty < 1e-50
    assert [e.at for e in verdict.events] == sorted(e.at for e in DESIGN_LOG.events)


def test_the_design_log_is_inconclusive_before_the_quiet_interval() -> None:
    verdict = judge_device(DESIGN_LOG, now=LAST_CLEAR + timedelta(minutes=30))
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.stable_since is None
    assert verdict.reason == "quiet for 30 min since 2025-06-16 16:10:44+02:00, 1 h needed"


def test_since_counts_flaps_from_the_repair() -> None:
    verdict = judge_device(DESIGN_LOG, now=TICKET_WORKED, since=datetime(2025, 6, 16, tzinfo=PARIS))
    assert verdict.flaps == 1
    assert verdict.reason.endswith("(1 flap since 2025-06-16 00:00:00+02:00)")
    after = judge_device(DESIGN_LOG, now=TICKET_WORKED, since=datetime(2025, 6, 17, tzinfo=PARIS))
    assert after.flaps == 0
    assert after.reason == "stable since 2025-06-16 16:10:44+02:00"


def test_five_quick_cuts_flap_then_settle() -> None:
    now = T0 + timedelta(minutes=13, seconds=30)
    verdict = judge_device(flapping_log(), now=now)
    assert verdict.verdict is Verdict.FLAPPING
    assert verdict.reason == "flapping (5 flaps in 13 min)"
    assert verdict.penalty > 2000
    later = judge_device(flapping_log(), now=now + timedelta(hours=2))
    assert later.verdict is Verdict.STABLE


def test_flapping_with_since_names_the_window() -> None:
    since = T0 + timedelta(minutes=5)
    early = judge_device(flapping_log(), now=T0 + timedelta(minutes=13), since=since)
    assert early.reason == "flapping (3 flaps in 8 min)"
    before = judge_device(
        flapping_log(), now=T0 + timedelta(minutes=13), since=T0 + timedelta(minutes=13)
    )
    assert before.reason == "flapping (from cuts before 2025-06-16 09:13:00+02:00)"


def test_an_active_alarm_is_inconclusive() -> None:
    log = parsed(*DESIGN_LOG.events, event(TICKET_WORKED - timedelta(hours=1), device="A"))
    verdict = judge_device(log, now=TICKET_WORKED)
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.reason == (
        "alarm active since 2025-06-19 09:00:00+02:00 (Loss of continuity (LOC) on A 4.1.24.14)"
    )
    assert verdict.stable_since is None


def test_an_active_alarm_on_a_flapping_line_is_flapping() -> None:
    log = parsed(*flapping_log().events, event(T0 + timedelta(minutes=15)))
    verdict = judge_device(log, now=T0 + timedelta(minutes=16))
    assert verdict.verdict is Verdict.FLAPPING


def test_an_empty_log_is_stable_without_a_date() -> None:
    verdict = judge_device(parsed(), now=TICKET_WORKED)
    assert (verdict.verdict, verdict.stable_since, verdict.reason) == (
        Verdict.STABLE, None, "stable (empty log)"
    )  # fmt: skip


def test_other_alarms_only_are_stable_without_a_date() -> None:
    power = event(T0, alarm="Power supply failure", source="PS1", link=False)
    verdict = judge_device(parsed(power), now=TICKET_WORKED)
    assert (verdict.verdict, verdict.stable_since, verdict.penalty) == (Verdict.STABLE, None, 0.0)
    assert verdict.reason == "stable (no link alarm in the log)"
    assert verdict.events == (power,)


def test_nothing_recognised_is_inconclusive_with_the_reason() -> None:
    empty = judge_device(ParsedLog(recognised=False), now=TICKET_WORKED)
    assert (empty.verdict, empty.reason) == (
        Verdict.INCONCLUSIVE,
        "no log recognised (empty output)",
    )
    other = ParsedLog(recognised=False, unparsed=("%SYS-5-CONFIG_I", "Router#"))
    verdict = judge_device(other, now=TICKET_WORKED, device="B")
    assert verdict.reason == "no log recognised (2 lines unread)"
    assert verdict.unparsed == other.unparsed
    assert verdict.device == "B"


def test_unparsed_lines_are_kept_and_never_fatal() -> None:
    log = parsed(*DESIGN_LOG.events, unparsed=("garbage",))
    verdict = judge_device(log, now=TICKET_WORKED)
    assert verdict.verdict is Verdict.STABLE
    assert verdict.unparsed == ("garbage",)


def test_a_clear_dated_after_now_is_not_quiet() -> None:
    verdict = judge_device(DESIGN_LOG, now=LAST_CLEAR - timedelta(seconds=3))
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.reason == (
        "link alarm cleared at 2025-06-16 16:10:44+02:00, after the time of judgement"
    )


def test_duration_is_readable() -> None:
    assert [duration(timedelta(seconds=s)) for s in (-5, 45, 720, 4800, 7200, 183600, 172800)] == [
        "0 s", "45 s", "12 min", "1 h 20 min", "2 h", "2 d 3 h", "2 d",
    ]  # fmt: skip


# Per ticket


def end(
    verdict: Verdict, *, since: datetime | None = None, device: str | None = None
) -> DeviceVerdict:
    return DeviceVerdict(verdict=verdict, reason=f"{verdict}", stable_since=since, device=device)


def test_both_ends_stable_gives_the_latest_stable_since() -> None:
    ticket = judge_ticket([end(Verdict.STABLE, since=LAST_CLEAR), end(Verdict.STABLE, since=T0)])
    assert ticket.verdict is Verdict.STABLE
    assert ticket.stable_since == LAST_CLEAR
    assert ticket.reason == "stable since 2025-06-16 16:10:44+02:00"
    empty_end = judge_ticket([end(Verdict.STABLE), end(Verdict.STABLE, since=T0)])
    assert empty_end.stable_since == T0


def test_the_worst_end_wins() -> None:
    order = [Verdict.STABLE, Verdict.INCONCLUSIVE, Verdict.FLAPPING, Verdict.UNREACHABLE]
    for better, worse in pairwise(order):
        for ends in ([end(better), end(worse)], [end(worse), end(better)]):
            ticket = judge_ticket(ends)
            assert ticket.verdict is worse
            assert ticket.stable_since is None


def test_the_ticket_reason_names_the_worst_ends() -> None:
    ticket = judge_ticket([end(Verdict.FLAPPING, device="A"), end(Verdict.STABLE, since=T0)])
    assert ticket.reason == "A: flapping"
    both = judge_ticket([end(Verdict.UNREACHABLE), end(Verdict.UNREACHABLE, device="B")])
    assert both.reason == "end 1: unreachable; B: unreachable"
    single = judge_ticket([judge_device(DESIGN_LOG, now=TICKET_WORKED)])
    assert single.reason == "stable since 2025-06-16 16:10:44+02:00"


def test_no_end_is_inconclusive() -> None:
    assert judge_ticket([]).verdict is Verdict.INCONCLUSIVE


# Properties

_BASE = datetime(2025, 6, 16, 8, 0, tzinfo=PARIS)
events_strategy = st.lists(
    st.builds(
        event,
        st.integers(min_value=0, max_value=6 * 3600).map(lambda s: _BASE + timedelta(seconds=s)),
        st.sampled_from(EventKind),
        alarm=st.sampled_from([LOC, RDI, "Power supply failure"]),
        link=st.booleans(),
        device=st.sampled_from([None, "A", "B"]),
    ),
    max_size=25,
)


@given(events_strategy, st.randoms(use_true_random=False), st.integers(0, 9 * 3600))
def test_input_order_does_not_change_the_verdict(log, random, offset) -> None:
    shuffled = list(log)
    random.shuffle(shuffled)
    now = _BASE + timedelta(seconds=offset)
    since = _BASE + timedelta(hours=2)
    assert judge_device(parsed(*shuffled), now=now) == judge_device(parsed(*log), now=now)
    assert judge_device(parsed(*shuffled), now=now, since=since) == judge_device(
        parsed(*log), now=now, since=since
    )
