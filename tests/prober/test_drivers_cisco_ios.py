"""The Cisco IOS driver reads `show logging`: its header, its buffer, and pastes around it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vigie_prober.drivers import cisco_ios, get_driver
from vigie_prober.schemas import EventKind, ParsedLog

DATA = Path(__file__).parent / "data" / "cisco_ios"
SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "samples" / "router-logs"
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 6, 20, 12, 0, tzinfo=PARIS)

RAISE, CLEAR = EventKind.RAISE, EventKind.CLEAR


def fixture(name: str) -> str:
    return (DATA / name).read_bytes().decode()  # bytes: keep the CRLF of the CRLF fixtures


def read(text: str, *, now: datetime = NOW, tz: ZoneInfo = PARIS) -> ParsedLog:
    return cisco_ios.parse(text, tz=tz, now=now)


def test_full_output_events_in_time_order() -> None:
    text = fixture("full_crlf.txt")
    assert "\r\n" in text

    parsed = read(text)

    assert [(e.alarm, e.source, e.kind, e.link) for e in parsed.events] == [
        ("%LINK-3-UPDOWN", "GigabitEthernet0/1", RAISE, True),
        ("%LINEPROTO-5-UPDOWN", "GigabitEthernet0/1", RAISE, True),
        ("%LINK-3-UPDOWN", "GigabitEthernet0/1", CLEAR, True),
        ("%LINEPROTO-5-UPDOWN", "GigabitEthernet0/1", CLEAR, True),
        ("%LINK-5-CHANGED", "GigabitEthernet0/3", RAISE, False),  # administratively down
        ("%CONTROLLER-5-UPDOWN", "T1 0/0/0", RAISE, False),
        ("%ISDN-6-LAYER2UP", "BRI0", CLEAR, False),
        ("%PLATFORM_ENV-1-PWR", "Power supply 2", RAISE, False),
        ("%ENVMON-6-TEMP_OK", "ENVMON", CLEAR, False),
        ("%BGP-5-ADJCHANGE", "198.51.100.1", RAISE, False),
        ("%BGP-5-ADJCHANGE", "198.51.100.1", CLEAR, False),
        ("%LINEPROTO-5-UPDOWN", "Tunnel0", RAISE, True),  # tab-separated
    ]
    assert parsed.recognised


def test_stamp_fields_severity_and_line() -> None:
    first = read(fixture("full_crlf.txt")).events[0]

    assert first.at == datetime(2025, 6, 18, 22, 41, 7, 120000, tzinfo=PARIS)
    assert first.severity == "errors"
    assert first.line == (
        "004102: Jun 18 22:41:07.120 CEST: %LINK-3-UPDOWN: Interface GigabitEthernet0/1,"
        " changed state to down"
    )


def test_unreadable_lines_are_unparsed_and_read_messages_are_not() -> None:
    parsed = read(fixture("full_crlf.txt"))

    assert parsed.unparsed == (
        "thernet0/1, changed state to up",  # the buffer's wrap cut it
        "1d02h: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down",  # uptime
        "00:00:41: %SYS-5-RESTART: System restarted --",  # uptime
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/2, changed state to"
        " down",  # no stamp
    )  # header, banner and indented continuations, CEF-HWIDB and %SYS-5-CONFIG_I were read


def test_empty_buffer_header_is_recognised() -> None:
    assert read(fixture("empty_buffer.txt")) == ParsedLog(recognised=True)


def test_session_paste_sets_pings_and_prompts_aside() -> None:
    parsed = read(fixture("session.txt"))

    assert [(e.source, e.kind, e.link, e.device) for e in parsed.events] == [
        ("Dialer1", RAISE, True, "rtr-nantes-02"),
        ("Dialer1", CLEAR, True, "rtr-nantes-02"),
    ]
    assert parsed.unparsed == ()
    assert parsed.recognised


def test_echoed_command_alone_is_recognised() -> None:
    assert read("rtr-1#show logging\nrtr-1#\n") == ParsedLog(recognised=True)


@pytest.mark.parametrize(
    ("stamp", "now", "year"),
    [
        ("Jun 19 03:02:31", datetime(2025, 6, 20, tzinfo=PARIS), 2025),
        ("Dec 31 23:59:59", datetime(2025, 1, 5, tzinfo=PARIS), 2024),
        ("Jan  5 10:00:00", datetime(2025, 1, 5, 9, 0, tzinfo=PARIS), 2024),  # later today
        ("Jan  5 10:00:00", datetime(2025, 1, 5, 10, 0, tzinfo=PARIS), 2025),  # exactly now
        ("Feb 29 12:00:00", datetime(2025, 3, 1, tzinfo=PARIS), 2024),
        ("Feb 29 12:00:00", datetime(2027, 12, 31, tzinfo=PARIS), 2024),
        ("Jan  1 00:30:00", datetime(2024, 12, 31, 23, 45, tzinfo=ZoneInfo("UTC")), 2025),
    ],
)
def test_year_is_the_latest_not_after_now(stamp: str, now: datetime, year: int) -> None:
    text = f"{stamp}: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"

    (event,) = read(text, now=now).events

    assert event.at.year == year
    assert event.at <= now


def test_zone_abbreviation_is_informational() -> None:
    text = "Jan 10 10:00:00.5 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"

    (event,) = read(text).events

    assert event.at == datetime(2025, 1, 10, 10, 0, 0, 500000, tzinfo=PARIS)
    assert event.at.utcoffset() == timedelta(hours=1)


def test_naive_now_is_taken_as_local() -> None:
    text = "Jun 20 12:30:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"

    (event,) = read(text, now=datetime(2025, 6, 20, 12, 0)).events  # noqa: DTZ001 - on purpose

    assert event.at.year == 2024


def test_stamp_with_year_is_taken_as_printed() -> None:
    text = "Jun 18 2023 22:00:01.250 CET: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up"

    (event,) = read(text).events

    assert event.at == datetime(2023, 6, 18, 22, 0, 1, 250000, tzinfo=PARIS)


def test_impossible_stamp_is_unparsed() -> None:
    text = "Feb 30 10:00:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"

    assert read(text) == ParsedLog(unparsed=(text,), recognised=False)


def test_iosxr_best_effort() -> None:
    parsed = read(fixture("iosxr.txt"))

    assert [(e.alarm, e.source, e.kind, e.link) for e in parsed.events] == [
        ("%PKT_INFRA-LINK-3-UPDOWN", "TenGigE0/0/0/2", RAISE, True),
        ("%PKT_INFRA-LINEPROTO-5-UPDOWN", "TenGigE0/0/0/2", RAISE, True),
        ("%PKT_INFRA-LINK-3-UPDOWN", "TenGigE0/0/0/2", CLEAR, True),
        ("%PKT_INFRA-LINEPROTO-5-UPDOWN", "TenGigE0/0/0/2", CLEAR, True),
        ("%INFRA-SHELF_MGR-6-CARD_INFO", "INFRA-SHELF_MGR", CLEAR, False),  # "card … is up"
    ]
    assert parsed.unparsed == ()
    assert {e.device for e in parsed.events} == {None}  # the XR prompt comes after the log


def test_asa_best_effort_never_link() -> None:
    parsed = read(fixture("asa.txt"))

    assert [(e.alarm, e.source, e.kind, e.link) for e in parsed.events] == [
        ("%ASA-4-411002", "outside", RAISE, False),
        ("%ASA-4-411001", "outside", CLEAR, False),
    ]
    assert parsed.events[0].at.year == 2025
    assert parsed.unparsed == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\nworld",
        "Jun 19 03:02:31 host sshd[12]: Accepted publickey for tech",  # Linux syslog
        (DATA.parent / "rad_etx" / "alarm_log.txt").read_text(),
    ],
)
def test_other_outputs_are_not_recognised(text: str) -> None:
    parsed = read(text)

    assert not parsed.recognised
    assert parsed.events == ()


def test_registry_driver_turns_the_pager_off_first() -> None:
    driver = get_driver("cisco_ios")

    assert driver.name == "cisco_ios"
    assert driver.commands == ("terminal length 0", "show logging")
    assert driver.prompt.search("…\nrtr-nantes-02#")
    assert driver.prompt.search("RP/0/RSP0/CPU0:pe-lyon-7#")
    assert driver.parse(fixture("session.txt"), tz=PARIS, now=NOW) == read(fixture("session.txt"))


# file → (events, link events, unparsed lines), read on 2025-06-20 in Europe/Paris
REAL_SAMPLES = {
    "cisco_asa_show_logging_ntc1.txt": (0, 0, 0),
    "cisco_ios_show_logging_genie3.txt": (0, 0, 0),  # header, empty buffer
    "cisco_ios_show_logging_ntc1.txt": (3, 3, 1),  # "7:04:" has no date
    "cisco_ios_show_logging_ntc2.txt": (0, 0, 1),  # "IEEE PD", cut by the wrap
    "cisco_ios_show_logging_ntc3.txt": (1, 1, 0),
    "cisco_ios_show_logging_ntc5.txt": (2, 2, 1),  # "rtual-PPP2, …", cut by the wrap
    "cisco_iosxe_show_logging_genie13.txt": (2, 2, 0),
    "cisco_iosxr_show_logging_genie.txt": (4, 4, 0),
}


def sample(name: str) -> str:
    if not SAMPLES.is_dir():
        pytest.skip(
            f"real router outputs not found at {SAMPLES.resolve()} (shared/ beside the repo)"
        )
    return (SAMPLES / name).read_bytes().decode()


@pytest.mark.parametrize("name", sorted(REAL_SAMPLES))
def test_real_samples(name: str) -> None:
    parsed = read(sample(name))

    events = len(parsed.events)
    links = sum(event.link for event in parsed.events)
    assert (events, links, len(parsed.unparsed)) == REAL_SAMPLES[name]
    assert parsed.recognised
    assert all(event.at <= NOW for event in parsed.events)
    assert not get_driver("rad_etx").parse(sample(name), tz=PARIS, now=NOW).recognised


def test_real_samples_are_all_listed() -> None:
    sample("cisco_ios_show_logging_ntc1.txt")
    assert {path.name for path in SAMPLES.glob("*.txt")} == set(REAL_SAMPLES)


def test_real_ntc1_link_flap_on_gigabitethernet2_0_3() -> None:
    parsed = read(sample("cisco_ios_show_logging_ntc1.txt"))

    assert [(e.at.isoformat(), e.alarm, e.source, e.kind) for e in parsed.events] == [
        ("2025-06-19T03:02:31+02:00", "%LINEPROTO-5-UPDOWN", "GigabitEthernet2/0/3", RAISE),
        ("2025-06-19T03:02:32+02:00", "%LINK-3-UPDOWN", "GigabitEthernet2/0/3", RAISE),
        ("2025-06-19T03:02:37+02:00", "%LINK-3-UPDOWN", "GigabitEthernet2/0/3", CLEAR),
    ]
    assert parsed.unparsed[0].startswith("7:04: %LINEPROTO-5-UPDOWN")


@pytest.mark.parametrize(
    "line", ["-" * 200_000 + "x", "%A" + "-B" * 50_000, "Jun 1 " + " " * 200_000 + "x"]
)
def test_pathological_lines_are_read_quickly(line: str) -> None:
    started = time.perf_counter()
    read(line)
    assert time.perf_counter() - started < 2.0


FRAGMENTS = [
    *fixture("full_crlf.txt").splitlines(),
    *fixture("iosxr.txt").splitlines(),
    *fixture("asa.txt").splitlines(),
    "rtr-1#show logging",
    "^C",
    "Feb 29 00:00:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
    "Foo 12 10:00:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up",
    "Jan 99 99:99:99.9999999: %X-9-Y: z",
    "Dec 31 9999 23:59:59: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=60)), max_size=40),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.datetimes(
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2190, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([PARIS, ZoneInfo("UTC"), ZoneInfo("America/New_York")]),
    ),
)
def test_parse_never_raises_and_events_are_aware(lines: list[str], end: str, now: datetime) -> None:
    parsed = read(end.join(lines), now=now)

    for event in parsed.events:
        assert event.at.tzinfo is PARIS and event.at.utcoffset() is not None
    assert [e.at for e in parsed.events] == sorted(e.at for e in parsed.events)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_any_text(text: str) -> None:
    parsed = read(text)

    assert all(event.at.tzinfo is not None for event in parsed.events)
