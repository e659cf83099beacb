"""The RAD ETX driver reads the alarm log of design.md §1, and pastes around it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vigie_prober.drivers import get_driver, rad_etx
from vigie_prober.schemas import EventKind, ParsedLog

DATA = Path(__file__).parent / "data" / "rad_etx"
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 6, 19, 10, 0, tzinfo=PARIS)


def fixture(name: str) -> str:
    return (DATA / name).read_bytes().decode()  # bytes: keep the CRLF of the CRLF fixtures


def read(text: str) -> ParsedLog:
    return rad_etx.parse(text, tz=PARIS, now=NOW)


def summary(parsed: ParsedLog) -> list[tuple[str, str, str, str | None, EventKind, bool]]:
    return [
        (e.at.isoformat(), e.alarm, e.source, e.severity, e.kind, e.link) for e in parsed.events
    ]


DESIGN_EVENTS = [
    ("2025-06-16T16:08:43+02:00", "Loss of continuity (LOC)", "4.1.24.14", "Minor",
     EventKind.RAISE, True),
    ("2025-06-16T16:10:37+02:00", "Loss of continuity (LOC)", "4.1.24.14", "Cleared",
     EventKind.CLEAR, True),
    ("2025-06-16T16:10:44+02:00", "Remote defect indication (RDI)", "4.2.24.14", "Cleared",
     EventKind.CLEAR, True),
]  # fmt: skip


def test_design_log_gives_three_link_events_in_time_order() -> None:
    parsed = read(fixture("alarm_log.txt"))

    assert summary(parsed) == DESIGN_EVENTS
    assert parsed.unparsed == ()
    assert parsed.recognised
    for event in parsed.events:
        assert event.at.tzinfo is PARIS
        assert event.at.utcoffset() == timedelta(hours=2)
        assert event.device is None


def test_event_line_is_the_record_as_printed() -> None:
    newest = read(fixture("alarm_log.txt")).events[-1]

    assert newest.line == (
        "9      Remote defect indication (RDI)\n"
        "2025-06-16  4.2.24.14   defRDICCM     Cleared\n"
        "16:10:44.00                           Resolved"
    )


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="cr-only"),
        pytest.param(lambda t: "\n".join("\t".join(ln.split()) for ln in t.split("\n")),
                     id="tabs"),
        pytest.param(lambda t: "\n".join(" ".join(ln.split()) for ln in t.split("\n")),
                     id="squeezed"),
        pytest.param(lambda t: t.replace("\n", "\n\n"), id="blank-lines"),
        pytest.param(lambda t: t.replace("\n", "   \n"), id="trailing-spaces"),
        pytest.param(lambda t: "\x1b[0m" + t.replace("16:10:37", " --More-- \b\b16:10:37"),
                     id="pager"),
    ],
)  # fmt: skip
def test_layout_variants_give_the_same_events(variant) -> None:
    parsed = read(variant(fixture("alarm_log.txt")))

    assert summary(parsed) == DESIGN_EVENTS
    assert parsed.unparsed == ()


def test_whole_session_paste_reads_only_the_log() -> None:
    text = fixture("session_crlf_tabs.txt")
    assert "\r\n" in text and "\t" in text and "^C" in text

    parsed = read(text)

    assert summary(parsed) == DESIGN_EVENTS
    assert parsed.unparsed == ()
    assert parsed.recognised
    assert {e.device for e in parsed.events} == {"ETX203AM.LYON-CPE-A"}
    assert parsed.events[0].line.split("\n")[0] == "12\tLoss of continuity (LOC)"


def test_header_only_is_recognised_with_no_event() -> None:
    parsed = read(fixture("header_only.txt"))

    assert parsed == ParsedLog(events=(), unparsed=(), recognised=True)


def test_echoed_command_alone_is_recognised_as_an_empty_log() -> None:
    parsed = read("ETX203AM.SITE-A# show configure  reporting alarm-log\nETX203AM.SITE-A#\n")

    assert parsed == ParsedLog(events=(), unparsed=(), recognised=True)


def test_mixed_alarms_redactions_and_broken_records() -> None:
    parsed = read(fixture("mixed.txt"))

    assert [(e.alarm, e.source, e.kind, e.link) for e in parsed.events] == [
        ("Power supply failure", "PS-2", EventKind.RAISE, False),
        ("Power supply failure", "PS-2", EventKind.CLEAR, False),
        ("High temperature", "chassis", EventKind.RAISE, False),
        ("Loss of signal (LOS)", "x.x.x.x", EventKind.RAISE, True),
        ("Ethernet link down", "<redacted>", EventKind.RAISE, True),
        ("Remote defect indication (RDI)", "4.2.24.14", EventKind.CLEAR, True),
    ]
    assert parsed.events[1].at == datetime(2025, 6, 14, 2, 17, 41, 500000, tzinfo=PARIS)
    assert parsed.events[-1].at == datetime(2025, 6, 15, 8, 5, tzinfo=PARIS)  # day first
    assert parsed.unparsed == (  # the redacted date, then the record cut short
        "35     Loss of continuity (LOC)",
        "XXXX-XX-XX  4.1.24.14   defRemoteCCM  Minor",
        "08:00:03.00                           not-applicable",
        "36     Remote defect indication (RDI)",
    )
    assert parsed.recognised


def test_resolved_state_clears_whatever_the_severity() -> None:
    text = (
        "3  Loss of continuity (LOC)\n"
        "2025-06-16  4.1.24.14  defRemoteCCM  Minor\n"
        "16:09:00  Resolved"
    )

    (event,) = read(text).events

    assert event.kind is EventKind.CLEAR


def test_impossible_date_or_year_goes_to_unparsed() -> None:
    text = (
        "1  Loss of continuity (LOC)\n2025-02-30  4.1.24.14  defRemoteCCM  Minor\n10:00:00  x\n"
        "2  Loss of continuity (LOC)\n1900-01-01  4.1.24.14  defRemoteCCM  Minor\n10:00:00  x\n"
        "3  Loss of continuity (LOC)\n2025-01-01  4.1.24.14  defRemoteCCM  Minor\n25:00:00  x\n"
    )

    parsed = read(text)

    assert parsed.events == ()
    assert len(parsed.unparsed) == 9


def test_winter_record_takes_the_winter_offset() -> None:
    text = "1  Loss of continuity (LOC)\n2025-01-10  4.1.24.14  defRemoteCCM  Minor\n10:00:00  n/a"

    (event,) = read(text).events

    assert event.at.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    "text",
    ["", "\n\r\n  \n", "hello world", "% Invalid input detected at '^' marker."],
)
def test_empty_or_garbage_is_not_recognised(text: str) -> None:
    parsed = read(text)

    assert not parsed.recognised
    assert parsed.events == ()


def test_cisco_output_is_not_recognised() -> None:
    cisco = (DATA.parent / "cisco_ios" / "full_crlf.txt").read_bytes().decode()

    parsed = read(cisco)

    assert not parsed.recognised
    assert parsed.events == ()
    assert parsed.unparsed  # kept as evidence, never fatal


def test_registry_driver_sends_the_alarm_log_command() -> None:
    driver = get_driver("rad_etx")

    assert driver.name == "rad_etx"
    assert driver.commands == ("show configure reporting alarm-log",)
    assert driver.prompt.search("…\nETX203AM.LYON-CPE-A# ")
    assert driver.prompt.search("ETX203AM.LYON-CPE-A>config>reporting#")
    assert driver.parse(fixture("alarm_log.txt"), tz=PARIS, now=NOW) == read(
        fixture("alarm_log.txt")
    )


@pytest.mark.parametrize(
    "line", ["-" * 200_000 + "x", "1 a" + " " * 200_000 + "b", "a>" * 50_000 + " x"]
)
def test_pathological_lines_are_read_quickly(line: str) -> None:
    started = time.perf_counter()
    read(line)
    assert time.perf_counter() - started < 2.0


FRAGMENTS = [
    *fixture("alarm_log.txt").splitlines(),
    *fixture("mixed.txt").splitlines(),
    "Index  Alarm",
    "-----",
    "ETX203AM.X# show configure reporting alarm-log",
    "^C",
    "5 packets transmitted. 5 packets received, 0% packet loss",
    "2025-13-45  4.1.24.14  d  Minor",
    "99:99:99.99  Resolved",
    "0000-01-01",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=60)), max_size=40),
    st.sampled_from(["\n", "\r\n", "\r", "\t"]),
)
def test_parse_never_raises_and_events_are_aware(lines: list[str], end: str) -> None:
    parsed = read(end.join(lines))

    for event in parsed.events:
        assert event.at.tzinfo is not None and event.at.utcoffset() is not None
    assert [e.at for e in parsed.events] == sorted(e.at for e in parsed.events)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    parsed = read(text)

    assert all(event.at.tzinfo is not None for event in parsed.events)
