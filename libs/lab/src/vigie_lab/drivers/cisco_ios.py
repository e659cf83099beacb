"""Cisco IOS: prompt ``<HOST>#``, ``terminal length 0`` and ``show logging``.

``show logging`` prints the usual header block down to ``Log Buffer (16384 bytes):``, then the
buffer oldest first, stamped in the device's zone without a year (``Jun 16 16:08:43:``). A cut
prints ``%LINK-3-UPDOWN`` down at its start, ``%LINEPROTO-5-UPDOWN`` down 1 s later,
``%LINK-3-UPDOWN`` up 1 s before its end and ``%LINEPROTO-5-UPDOWN`` up at its end; a
``%SYS-5-CONFIG_I`` an hour before the first cut is there as real logs have such lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from vigie_lab.histories import Cut

__all__ = ["CiscoIos", "messages"]

INTERFACE: Final = "GigabitEthernet0/1"
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_LINK: Final = f"%LINK-3-UPDOWN: Interface {INTERFACE}, changed state to"
_PROTO: Final = f"%LINEPROTO-5-UPDOWN: Line protocol on Interface {INTERFACE}, changed state to"
_CONFIG: Final = "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (192.0.2.10)"


def messages(cuts: Sequence[Cut], *, now: datetime) -> list[tuple[datetime, str]]:
    """The buffer's messages that happened by ``now``, oldest first."""
    found: list[tuple[datetime, str]] = []
    if cuts:
        found.append((cuts[0].start - timedelta(hours=1), _CONFIG))
    second = timedelta(seconds=1)
    for cut in cuts:
        found += [
            (cut.start, f"{_LINK} down"),
            (cut.start + second, f"{_PROTO} down"),
            (cut.end - second, f"{_LINK} up"),
            (cut.end, f"{_PROTO} up"),
        ]
    return sorted((m for m in found if m[0] <= now), key=lambda m: m[0])


def _stamp(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{_MONTHS[local.month - 1]} {local.day:>2} {local:%H:%M:%S}:"


def _header(count: int) -> str:
    return (
        "Syslog logging: enabled (0 messages dropped, 0 messages rate-limited, 0 flushes, "
        "0 overruns, xml disabled, filtering disabled)\n\n"
        "No Active Message Discriminator.\n\n\n\n"
        "No Inactive Message Discriminator.\n\n\n"
        "    Console logging: disabled\n"
        "    Monitor logging: level debugging, 0 messages logged, xml disabled,\n"
        "                     filtering disabled\n"
        f"    Buffer logging:  level debugging, {count} messages logged, xml disabled,\n"
        "                    filtering disabled\n"
        "    Exception Logging: size (4096 bytes)\n"
        "    Count and timestamp logging messages: disabled\n"
        "    Persistent logging: disabled\n\n"
        "No active filter modules.\n\n"
        f"    Trap logging: level informational, {count} message lines logged\n"
        "        Logging Source-Interface:       VRF Name:\n\n"
        "Log Buffer (16384 bytes):\n\n"
    )


class CiscoIos:
    """The Cisco IOS CLI."""

    name = "cisco_ios"
    log_command = "show logging"
    pager_lines = 24

    def prompt(self, host: str) -> str:
        """``<HOST>#``."""
        return f"{host}#"

    def log(self, cuts: Sequence[Cut], *, now: datetime, tz: ZoneInfo) -> str:
        """The header, then the buffer oldest first."""
        found = messages(cuts, now=now)
        body = "".join(f"{_stamp(at, tz)} {text}\n" for at, text in found)
        return _header(len(found)) + body

    def filler(self, *, now: datetime, tz: ZoneInfo) -> str:
        """Buffer lines of old cuts, a month before ``now``, about 64 KiB."""
        old = now - timedelta(days=30)
        cut_list = [
            Cut(old + timedelta(hours=k), old + timedelta(hours=k, minutes=1)) for k in range(170)
        ]
        return "".join(f"{_stamp(at, tz)} {text}\n" for at, text in messages(cut_list, now=now))

    def ping(self, target: str) -> str:
        """Five echoes, all answered, as IOS prints them."""
        return (
            "Type escape sequence to abort.\n"
            f"Sending 5, 100-byte ICMP Echos to {target}, timeout is 2 seconds:\n"
            "!!!!!\n"
            "Success rate is 100 percent (5/5), round-trip min/avg/max = 1/1/2 ms\n"
        )
