"""RAD ETX-203AM: prompt ``ETX203AM.<HOST>#`` and the alarm log in its real layout.

The layout is copied from a real session (design brief §1): three lines a record, newest
first, indexes growing down the page::

    9      Remote defect indication (RDI)
    2025-06-16  4.2.24.14   defRDICCM     Cleared
    16:10:44.00                           Resolved

index (7 wide) and alarm; date, source (12 wide), definition (14 wide) and severity; time
with hundredths, then the state at column 38. A cut prints LOC raised (``Minor``,
``not-applicable``) at its start, RDI raised 1 s later (``Major``), LOC cleared 7 s before
its end and RDI cleared at its end (``Cleared``, ``Resolved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

from vigie_lab.histories import Cut

__all__ = ["RadEtx", "Record", "records"]

_STATE_COLUMN: Final = 38
_LOC: Final = ("Loss of continuity (LOC)", "4.1.24.14", "defRemoteCCM")
_RDI: Final = ("Remote defect indication (RDI)", "4.2.24.14", "defRDICCM")


class Record(NamedTuple):
    """One alarm-log record."""

    at: datetime
    alarm: str
    source: str
    definition: str
    severity: str
    state: str


def records(cuts: Sequence[Cut], *, now: datetime) -> list[Record]:
    """The records of the cuts that happened by ``now``, newest first."""
    found: list[Record] = []
    for cut in cuts:
        found += [
            Record(cut.start, *_LOC, "Minor", "not-applicable"),
            Record(cut.start + timedelta(seconds=1), *_RDI, "Major", "not-applicable"),
            Record(cut.end - timedelta(seconds=7), *_LOC, "Cleared", "Resolved"),
            Record(cut.end, *_RDI, "Cleared", "Resolved"),
        ]
    return sorted((r for r in found if r.at <= now), key=lambda r: r.at, reverse=True)


def _render(index: int, record: Record, tz: ZoneInfo) -> str:
    local = record.at.astimezone(tz)
    clock = f"{local:%H:%M:%S}.{local.microsecond // 10_000:02d}"
    return (
        f"{index:<7}{record.alarm}\n"
        f"{local:%Y-%m-%d}  {record.source:<12}{record.definition:<14}{record.severity}\n"
        f"{clock:<{_STATE_COLUMN}}{record.state}\n"
    )


class RadEtx:
    """The RAD ETX-203AM CLI."""

    name = "rad_etx"
    log_command = "show configure reporting alarm-log"
    pager_lines = 0

    def prompt(self, host: str) -> str:
        """``ETX203AM.<HOST>#``."""
        return f"ETX203AM.{host}#"

    def log(self, cuts: Sequence[Cut], *, now: datetime, tz: ZoneInfo) -> str:
        """The alarm log, newest record first, numbered from 1."""
        found = records(cuts, now=now)
        return "".join(_render(index, record, tz) for index, record in enumerate(found, 1))

    def filler(self, *, now: datetime, tz: ZoneInfo) -> str:
        """Records of old cuts, a year before ``now``, about 64 KiB."""
        old = now - timedelta(days=365)
        cut_list = [
            Cut(old + timedelta(hours=k), old + timedelta(hours=k, minutes=2)) for k in range(160)
        ]
        found = records(cut_list, now=now)
        return "".join(_render(1000 + index, record, tz) for index, record in enumerate(found))

    def ping(self, target: str) -> str:
        """Five echoes, all answered in 1 ms, as the router prints them."""
        replies = "".join(
            f"64 bytes from {target}: icmp_seq={seq} ttl=64 time=1 ms\n" for seq in range(5)
        )
        return (
            f"PING {target}: 56 data bytes\n{replies}\n--- {target} ping statistics ---\n"
            "5 packets transmitted. 5 packets received, 0% packet loss\n"
            "round-trip (ms) min/avg/max = 1/1/1\n"
        )
