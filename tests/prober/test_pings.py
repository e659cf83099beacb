"""Ping outputs of the jump host (Linux), the router (RAD) and Cisco, read into loss and RTT."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_prober.pings import PingSummary, is_ping_line, parse_ping, parse_pings

LINUX = """\
PING 10.44.7.21 (10.44.7.21) 56(84) bytes of data.
64 bytes from 10.44.7.21: icmp_seq=1 ttl=60 time=16.7 ms
64 bytes from 10.44.7.21: icmp_seq=2 ttl=60 time=16.9 ms
64 bytes from 10.44.7.21: icmp_seq=3 ttl=60 time=17.2 ms
64 bytes from 10.44.7.21: icmp_seq=4 ttl=60 time=16.5 ms
64 bytes from 10.44.7.21: icmp_seq=5 ttl=60 time=16.8 ms

--- 10.44.7.21 ping statistics ---
5 packets transmitted, 5 received, 0% packet loss, time 4006ms
rtt min/avg/max/mdev = 16.500/16.820/17.200/0.232 ms
"""

ROUTER = """\
ETX203AM.LYON-CPE-A# ping 10.44.7.1
5 packets transmitted. 5 packets received, 0% packet loss
round-trip (ms) min/avg/max = 1/1/1
"""


def test_linux_jump_host() -> None:
    summary = parse_ping(LINUX)

    assert summary == PingSummary(
        style="linux",
        transmitted=5,
        received=5,
        loss_percent=0.0,
        rtt_min_ms=16.5,
        rtt_avg_ms=16.82,
        rtt_max_ms=17.2,
        rtt_mdev_ms=0.232,
        replies_ms=(16.7, 16.9, 17.2, 16.5, 16.8),
    )


def test_router_rad() -> None:
    summary = parse_ping(ROUTER)

    assert summary == PingSummary(
        style="router",
        transmitted=5,
        received=5,
        loss_percent=0.0,
        rtt_min_ms=1.0,
        rtt_avg_ms=1.0,
        rtt_max_ms=1.0,
        rtt_mdev_ms=None,  # the router prints no per-reply times here
    )


def test_router_mdev_is_computed_from_reply_times() -> None:
    text = (
        "Reply from 10.0.0.1: bytes=32 time=2ms TTL=255\n"
        "Reply from 10.0.0.1: bytes=32 time=4ms TTL=255\n"
        "2 packets transmitted. 2 packets received, 0% packet loss\n"
        "round-trip (ms) min/avg/max = 2/3/4\n"
    )

    summary = parse_ping(text)

    assert summary is not None
    assert summary.rtt_mdev_ms == pytest.approx(1.0)


def test_loss_with_errors_and_crlf() -> None:
    text = (
        "64 bytes from 10.9.0.14: icmp_seq=1 ttl=254 time=4.10 ms\r\n"
        "From 10.9.0.1 icmp_seq=2 Destination Host Unreachable\r\n"
        "--- 10.9.0.14 ping statistics ---\r\n"
        "3 packets transmitted, 1 received, +2 errors, 66.6667% packet loss, time 2002ms\r\n"
        "rtt min/avg/max/mdev = 4.100/4.100/4.100/0.000 ms\r\n"
    )

    summary = parse_ping(text)

    assert summary is not None
    assert (summary.transmitted, summary.received) == (3, 1)
    assert summary.loss_percent == pytest.approx(66.6667)
    assert summary.rtt_avg_ms == 4.1


def test_total_loss_has_no_times() -> None:
    text = (
        "--- 10.9.0.99 ping statistics ---\n"
        "5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4080ms\n"
    )

    assert parse_ping(text) == PingSummary(
        style="linux", transmitted=5, received=0, loss_percent=100.0
    )


def test_loss_is_computed_when_not_printed_and_times_from_replies() -> None:
    text = (
        "64 bytes from 10.0.0.1: icmp_seq=1 ttl=60 time=10 ms\n"
        "64 bytes from 10.0.0.1: icmp_seq=2 ttl=60 time=20 ms\n"
        "4 packets transmitted, 2 received\n"
    )

    summary = parse_ping(text)

    assert summary is not None
    assert summary.loss_percent == 50.0
    assert (summary.rtt_min_ms, summary.rtt_avg_ms, summary.rtt_max_ms) == (10.0, 15.0, 20.0)
    assert summary.rtt_mdev_ms == pytest.approx(5.0)


def test_cisco_success_rate() -> None:
    text = (
        "Type escape sequence to abort.\n"
        "Sending 5, 100-byte ICMP Echos to 10.9.0.1, timeout is 2 seconds:\n"
        ".!!!!\n"
        "Success rate is 80 percent (4/5), round-trip min/avg/max = 1/2/4 ms\n"
    )

    assert parse_ping(text) == PingSummary(
        style="cisco",
        transmitted=5,
        received=4,
        loss_percent=20.0,
        rtt_min_ms=1.0,
        rtt_avg_ms=2.0,
        rtt_max_ms=4.0,
    )


def test_jump_host_then_router_in_one_paste() -> None:
    summaries = parse_pings("[tech@rebond ~]$ ping 10.44.7.21\n" + LINUX + ROUTER)

    assert [(s.style, s.transmitted, s.rtt_avg_ms) for s in summaries] == [
        ("linux", 5, 16.82),
        ("router", 5, 1.0),
    ]
    assert summaries[1].replies_ms == ()  # the jump host's replies stay with its own summary


def test_replies_without_a_summary_give_nothing() -> None:
    assert parse_pings("64 bytes from 10.0.0.1: icmp_seq=1 ttl=60 time=10 ms\n^C\n") == ()
    assert parse_ping("") is None


@pytest.mark.parametrize("line", [*LINUX.splitlines()[:-1], *ROUTER.splitlines()[1:], "!!!!!"])
def test_ping_lines_are_recognised(line: str) -> None:
    if line.strip():
        assert is_ping_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "12     Loss of continuity (LOC)",
        "2025-06-16  4.1.24.14   defRemoteCCM  Minor",
        "16:08:43.00                           not-applicable",
        "022701: Jun 19 03:02:31: %LINK-3-UPDOWN: Interface Gi2/0/3, changed state to down",
        "Syslog logging: enabled (0 messages dropped)",
        "Log Buffer (16384 bytes):",
    ],
)
def test_log_lines_are_not_ping_lines(line: str) -> None:
    assert not is_ping_line(line)


@given(st.text())
def test_parse_never_raises(text: str) -> None:
    for summary in parse_pings(text):
        assert 0.0 <= summary.loss_percent <= 100.0
        if summary.rtt_mdev_ms is not None:
            assert math.isfinite(summary.rtt_mdev_ms)


@given(
    st.lists(st.floats(min_value=0.01, max_value=5000, allow_nan=False), min_size=1, max_size=20)
)
def test_computed_mdev_matches_the_population_deviation(times: list[float]) -> None:
    replies = "".join(f"64 bytes from 10.0.0.1: icmp_seq=1 ttl=60 time={t:.3f} ms\n" for t in times)
    text = replies + f"{len(times)} packets transmitted, {len(times)} received\n"

    summary = parse_ping(text)

    assert summary is not None
    rounded = [float(f"{t:.3f}") for t in times]
    mean = sum(rounded) / len(rounded)
    expected = math.sqrt(sum((t - mean) ** 2 for t in rounded) / len(rounded))
    assert summary.rtt_mdev_ms == pytest.approx(expected, abs=1e-6, rel=1e-6)
