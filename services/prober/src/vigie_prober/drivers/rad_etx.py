"""RAD ETX-2xx: the alarm log of ``show configure reporting alarm-log``, read into events.

A record is three printed lines (design brief §1)::

    12     Loss of continuity (LOC)
    2025-06-16  4.1.24.14   defRemoteCCM  Minor
    16:08:43.00                           not-applicable

index and alarm; date, source, definition and severity; time and state. Columns may be
separated by tabs or spaces, blank lines may fall between the lines of a record, and the
session around it (prompts, pings, ``^C``, CRLF) is set aside by
:func:`~vigie_prober.drivers.base.read_transcript`.

Reading rules:

* ``at`` is the record's date and time, local to ``tz`` (the log carries the year, so ``now``
  is not needed). Dates are ``yyyy-mm-dd`` (or ``/``) or, day first, ``dd-mm-yyyy``.
* A record whose severity is ``Cleared`` or whose state is ``Resolved`` / ``Cleared`` is a
  CLEAR; any other a RAISE.
* ``link`` is True for LOC, RDI, loss of signal (LOS) and link-down alarms; any other alarm
  (power supply, temperature, …) is listed with ``link`` False.
* Columns split on tabs or runs of two spaces or more, or on single spaces when the paste
  squeezed them; the last column is the severity, the first the source, the rest the
  definition. A redacted source (``x.x.x.x``, ``<redacted>``) is kept as printed; a record
  whose date or time cannot be read (redacted, impossible, a year outside 1970 to 2199) goes
  whole to ``unparsed``.
* ``alarm`` is the name with its whitespace collapsed; ``line`` is the record's three lines as
  printed, joined by newlines.
* Column headings and rules (``Index  Alarm``, ``-----``) or an ``alarm log`` title make the
  output ``recognised`` even when it holds no record; so does a prompt echoing the command,
  but only when nothing unreadable follows it (an echo then garbage is not an empty log).
* Events come in time order (the device prints the newest first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from vigie_prober.drivers.base import ROUTER_PROMPT, YEARS, Line, read_transcript
from vigie_prober.schemas import AlarmEvent, EventKind, ParsedLog

__all__ = ["RadEtx", "parse"]

COMMAND: Final = "show configure reporting alarm-log"

_INDEX: Final = re.compile(r"^\s*(?P<index>\d+)\s+(?P<alarm>\S.*)$")  # lines come rstripped
_DATE: Final = re.compile(
    r"^\s*(?:(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
    r"|(?P<d2>\d{1,2})[-/](?P<m2>\d{1,2})[-/](?P<y2>\d{4}))(?:\s+(?P<rest>.*))?$"
)
_TIME: Final = re.compile(
    r"^\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))?)?"
    r"(?:\s+(?P<state>.*))?$"
)
_COLUMNS: Final = re.compile(r"\t+|\s{2,}")
_HEADINGS: Final = frozenset(
    {
        "index",
        "alarm",
        "alarms",
        "name",
        "date",
        "time",
        "source",
        "definition",
        "severity",
        "state",
        "description",
        "type",
        "status",
    }
)
_RULE: Final = re.compile(r"[-=_*+\s]+")
_TITLE: Final = re.compile(r"^\s*(?:alarm[\s-]*log\b|no\s+alarms?\b|log\s+is\s+empty\b)", re.I)
_LINK_ALARM: Final = re.compile(
    r"\((?:LOC|RDI|LOS)\)|loss of continuity|remote defect|loss of signal|link[\s_-]*down",
    re.IGNORECASE,
)
_CLEARED: Final = frozenset({"cleared", "resolved", "clear"})


@dataclass
class _Record:
    """A record being read: its index line, then its date line."""

    index: Line
    alarm: str
    dated: tuple[Line, re.Match[str]] | None = None

    def lines(self) -> list[str]:
        return [self.index.text] + ([self.dated[0].text] if self.dated else [])


class _Reader:
    """Reads the lines one by one; a record in progress is complete or goes to unparsed."""

    def __init__(self, tz: ZoneInfo, *, echoed: bool) -> None:
        self.tz = tz
        self.events: list[AlarmEvent] = []
        self.unparsed: list[str] = []
        self.echoed = echoed
        """The command was echoed at a prompt: an empty log if nothing unreadable follows."""
        self.recognised = False
        self.record: _Record | None = None

    def feed(self, line: Line) -> None:
        if not line.text.strip() or (self.record is not None and self._continue(line)):
            return
        self._drop()
        if (index := _INDEX.match(line.text)) is not None:
            self.record = _Record(index=line, alarm=" ".join(index["alarm"].split()))
        elif _is_heading(line.text):
            self.recognised = True
        else:
            self.unparsed.append(line.text)

    def result(self) -> ParsedLog:
        self._drop()
        events = sorted(self.events, key=lambda event: event.at)
        recognised = self.recognised or (self.echoed and not self.unparsed)
        return ParsedLog(events=tuple(events), unparsed=tuple(self.unparsed), recognised=recognised)

    def _continue(self, line: Line) -> bool:
        """Take the record's next line; False when the line is not what the record needs."""
        record = self.record
        assert record is not None
        if record.dated is None:
            dated = _DATE.match(line.text)
            if dated is not None:
                record.dated = (line, dated)
            return dated is not None
        clock = _TIME.match(line.text)
        if clock is None:
            return False
        event = _event(record, line, clock, self.tz)
        if event is None:
            self.unparsed.extend([*record.lines(), line.text])
        else:
            self.events.append(event)
            self.recognised = True
        self.record = None
        return True

    def _drop(self) -> None:
        if self.record is not None:
            self.unparsed.extend(self.record.lines())
            self.record = None


def parse(text: str, *, tz: ZoneInfo, now: datetime) -> ParsedLog:
    """Read a RAD ETX alarm log (or a paste around it) into events.

    Args:
        text: The output of ``show configure reporting alarm-log``, or a paste holding it.
        tz: The device's zone.
        now: The time of reading (unused: the log's dates carry the year).

    Returns:
        The events in time order, the unread lines, and whether an alarm log was found.
        Never raises.
    """
    del now
    transcript = read_transcript(text)
    reader = _Reader(tz, echoed=COMMAND in transcript.commands)
    for line in transcript.lines:
        reader.feed(line)
    return reader.result()


def _is_heading(text: str) -> bool:
    """Column headings, rules and titles: the log's shape without a record."""
    if (_RULE.fullmatch(text) and len(text.strip()) >= 3) or _TITLE.match(text):
        return True
    words = [word.strip(":/|").casefold() for word in text.split()]
    words = [word for word in words if word]
    return len(words) >= 2 and all(word in _HEADINGS for word in words)


def _event(record: _Record, time_line: Line, t: re.Match[str], tz: ZoneInfo) -> AlarmEvent | None:
    """Build the event of a complete record, or None when its date or time is impossible."""
    assert record.dated is not None
    date_line, d = record.dated
    year = int(d["y"] or d["y2"])
    if not YEARS[0] <= year <= YEARS[1]:
        return None
    try:
        day = date(year, int(d["m"] or d["m2"]), int(d["d"] or d["d2"]))
        clock = time(
            int(t["h"]), int(t["mi"]), int(t["s"] or 0), int((t["frac"] or "0").ljust(6, "0"))
        )
    except ValueError:
        return None
    source, severity = _columns(d["rest"] or "")
    state = (t["state"] or "").strip()
    cleared = (severity or "").casefold() in _CLEARED or state.casefold() in _CLEARED
    return AlarmEvent(
        at=datetime.combine(day, clock, tzinfo=tz),
        alarm=record.alarm,
        source=source,
        severity=severity,
        kind=EventKind.CLEAR if cleared else EventKind.RAISE,
        link=_LINK_ALARM.search(record.alarm) is not None,
        device=record.index.device,
        line="\n".join([record.index.text, date_line.text, time_line.text]),
    )


def _columns(rest: str) -> tuple[str, str | None]:
    """Source and severity of a date line's remainder (the definition is not kept)."""
    columns = [column for column in _COLUMNS.split(rest.strip()) if column]
    if len(columns) == 1:
        columns = columns[0].split()
    if not columns:
        return "", None
    if len(columns) == 1:
        return "", columns[0]
    return columns[0], columns[-1]


class RadEtx:
    """The RAD ETX-2xx driver (ETX-203AM, ETX-203AX, ETX-205A …)."""

    name = "rad_etx"
    commands: tuple[str, ...] = (COMMAND,)
    prompt = ROUTER_PROMPT

    def parse(self, text: str, *, tz: ZoneInfo, now: datetime) -> ParsedLog:
        """Read the alarm log; see :func:`parse`."""
        return parse(text, tz=tz, now=now)
