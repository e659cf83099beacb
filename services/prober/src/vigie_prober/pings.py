"""Reading the `ping` outputs a technician pastes or the prober collects: pure parsers.

Three shapes are read, each ending in a summary that gives the loss and, when anything came
back, the round-trip times:

* the Linux jump host (iputils): ``64 bytes from 10.0.0.1: icmp_seq=1 ttl=60 time=16.7 ms``,
  ``5 packets transmitted, 5 received, 0% packet loss, time 4006ms`` and
  ``rtt min/avg/max/mdev = 16.5/16.7/16.9/0.1 ms``;
* the router (RAD ETX, BusyBox and BSD alike): ``5 packets transmitted. 5 packets received,
  0% packet loss`` and ``round-trip (ms) min/avg/max = 1/1/1``;
* Cisco IOS: ``Success rate is 100 percent (5/5), round-trip min/avg/max = 1/2/4 ms``.

Rules: the loss is the printed percentage when there is one, else computed from the counts.
``mdev`` is the printed one, else computed from the replies' ``time=`` values the way iputils
does (population standard deviation), else None. No reply at all gives no times. A summary is
needed: replies without their summary (an interrupted paste) give nothing, since the number of
echoes sent is unknown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["PingStyle", "PingSummary", "is_ping_line", "parse_ping", "parse_pings"]

PingStyle = Literal["linux", "router", "cisco"]

_NUMBER: Final = r"\d+(?:\.\d+)?"
_TRANSMITTED: Final = re.compile(
    rf"^\s*(?P<sent>\d+) packets transmitted[.,]\s*(?P<received>\d+)(?: packets)? received"
    rf"(?:,\s*\+\d+ (?:errors|duplicates))*(?:,\s*(?P<loss>{_NUMBER})% packet loss)?",
    re.IGNORECASE,
)
_RTT: Final = re.compile(
    rf"^\s*(?:rtt|round-trip)(?:\s*\(ms\))?\s+min/avg/max(?P<dev>/(?:mdev|stddev))?\s*=\s*"
    rf"(?P<min>{_NUMBER})/(?P<avg>{_NUMBER})/(?P<max>{_NUMBER})(?:/(?P<mdev>{_NUMBER}))?",
    re.IGNORECASE,
)
_CISCO_SUMMARY: Final = re.compile(
    rf"^\s*Success rate is (?P<loss_inverse>\d+) percent \((?P<received>\d+)/(?P<sent>\d+)\)"
    rf"(?:, round-trip min/avg/max = (?P<min>{_NUMBER})/(?P<avg>{_NUMBER})/(?P<max>{_NUMBER}))?",
    re.IGNORECASE,
)
_REPLY_TIME: Final = re.compile(rf"\btime\s*[=<]\s*(?P<ms>{_NUMBER})\s*ms\b", re.IGNORECASE)
_LINUX_TRANSMITTED: Final = re.compile(r"\d+ received,", re.IGNORECASE)
_PING_LINES: Final = re.compile(
    r"^\s*(?:"
    r"PING\s+\S+.*|Pinging\s+\S+.*|\d+ bytes from\s.*|From \S+ icmp_seq=.*"
    r"|Reply from\s.*|Request time(?:d)? ?out.*|---\s.*ping statistics\s*---"
    r"|\d+ packets transmitted.*|(?:rtt|round-trip)\b.*min/avg/max.*"
    r"|Type escape sequence to abort\.?|Sending \d+, \d+-byte ICMP Echos.*"
    r"|[!.UQM?&]+|Success rate is \d+ percent.*|ping: .*"
    r")\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PingSummary:
    """One ping run: how many echoes went, how many came back, how fast.

    Attributes:
        style: Which tool printed it: ``linux`` (jump host), ``router`` (RAD and BSD-like) or
            ``cisco``.
        transmitted: Echo requests sent.
        received: Echo replies received.
        loss_percent: Packet loss, 0 to 100.
        rtt_min_ms: Fastest reply in milliseconds; None when nothing came back.
        rtt_avg_ms: Mean reply time in milliseconds; None when nothing came back.
        rtt_max_ms: Slowest reply in milliseconds; None when nothing came back.
        rtt_mdev_ms: Mean deviation as iputils prints it (or computed from the replies);
            None when unknown.
        replies_ms: The ``time=`` of each reply line, in order.
    """

    style: PingStyle
    transmitted: int
    received: int
    loss_percent: float
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    rtt_mdev_ms: float | None = None
    replies_ms: tuple[float, ...] = ()


def is_ping_line(line: str) -> bool:
    """Tell whether a line belongs to a ping's output (a reply, a header, a summary).

    Drivers use it to set aside the ping a technician ran before pasting the log.

    Args:
        line: One line, without its line end.

    Returns:
        True for a line of any of the three ping shapes.
    """
    return _PING_LINES.match(line) is not None


def parse_pings(text: str) -> tuple[PingSummary, ...]:
    """Read every ping summary of an output, in the order printed.

    Args:
        text: Any output, possibly holding the jump host's and the router's pings.

    Returns:
        One summary per ping run found; empty when there is none. Never raises.
    """
    summaries: list[PingSummary] = []
    replies: list[float] = []
    pending: PingSummary | None = None
    for line in text.splitlines():
        if pending is not None and (rtt := _RTT.match(line)):
            summaries.append(_with_rtt(pending, rtt))
            pending, replies = None, []
            continue
        if pending is not None:
            summaries.append(_with_replies(pending))
            pending = None
        if (sent := _TRANSMITTED.match(line)) is not None:
            pending = _counts(sent, line, tuple(replies))
            replies = []
        elif (cisco := _CISCO_SUMMARY.match(line)) is not None:
            summaries.append(_cisco(cisco))
            replies = []
        elif _PING_LINES.match(line) and (reply := _REPLY_TIME.search(line)):
            replies.append(float(reply["ms"]))
    if pending is not None:
        summaries.append(_with_replies(pending))
    return tuple(summaries)


def parse_ping(text: str) -> PingSummary | None:
    """Read the first ping summary of an output.

    Args:
        text: Any output.

    Returns:
        The first summary, or None when the output holds none. Never raises.
    """
    summaries = parse_pings(text)
    return summaries[0] if summaries else None


def _counts(match: re.Match[str], line: str, replies: tuple[float, ...]) -> PingSummary:
    sent, received = int(match["sent"]), int(match["received"])
    if match["loss"] is not None:
        loss = float(match["loss"])
    else:
        loss = 100.0 * (sent - received) / sent if sent else 100.0
    style: PingStyle = "linux" if _LINUX_TRANSMITTED.search(line) else "router"
    return PingSummary(
        style=style,
        transmitted=sent,
        received=received,
        loss_percent=max(0.0, min(100.0, loss)),
        replies_ms=replies,
    )


def _with_rtt(summary: PingSummary, match: re.Match[str]) -> PingSummary:
    mdev = float(match["mdev"]) if match["mdev"] is not None else _mdev(summary.replies_ms)
    return PingSummary(
        style=summary.style,
        transmitted=summary.transmitted,
        received=summary.received,
        loss_percent=summary.loss_percent,
        rtt_min_ms=float(match["min"]),
        rtt_avg_ms=float(match["avg"]),
        rtt_max_ms=float(match["max"]),
        rtt_mdev_ms=mdev,
        replies_ms=summary.replies_ms,
    )


def _with_replies(summary: PingSummary) -> PingSummary:
    """A summary without its rtt line: times come from the replies, if any were printed."""
    replies = summary.replies_ms
    if not replies or summary.received == 0:
        return summary
    return PingSummary(
        style=summary.style,
        transmitted=summary.transmitted,
        received=summary.received,
        loss_percent=summary.loss_percent,
        rtt_min_ms=min(replies),
        rtt_avg_ms=sum(replies) / len(replies),
        rtt_max_ms=max(replies),
        rtt_mdev_ms=_mdev(replies),
        replies_ms=replies,
    )


def _cisco(match: re.Match[str]) -> PingSummary:
    sent, received = int(match["sent"]), int(match["received"])
    has_rtt = match["min"] is not None
    return PingSummary(
        style="cisco",
        transmitted=sent,
        received=received,
        loss_percent=max(0.0, min(100.0, 100.0 - float(match["loss_inverse"]))),
        rtt_min_ms=float(match["min"]) if has_rtt else None,
        rtt_avg_ms=float(match["avg"]) if has_rtt else None,
        rtt_max_ms=float(match["max"]) if has_rtt else None,
    )


def _mdev(replies: tuple[float, ...]) -> float | None:
    """Population standard deviation of the reply times, as iputils computes ``mdev``."""
    if not replies:
        return None
    mean = sum(replies) / len(replies)
    return math.sqrt(sum((t - mean) ** 2 for t in replies) / len(replies))  # two passes: stable
