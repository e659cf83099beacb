"""Cisco IOS: ``show logging`` read into events.

The output is a header block (``Syslog logging: …`` down to ``Log Buffer (N bytes):``), then
the buffer: one message a line, ``[seq: ][*|.]Mmm dd [yyyy ]hh:mm:ss[.mmm][ ZONE]: %FAC-S-MNEM:
text``, sometimes followed by continuation lines (an indented detail, the banner after
``%SYS-5-RESTART``).

Reading rules:

* Stamps carry no year (unless ``service timestamps … year`` is set): the year taken is the
  latest that does not put the stamp after ``now``. Stamps are local to ``tz``; a zone
  abbreviation in the stamp (``CET``, ``UTC``) is informational and ignored. A ``*`` (clock
  not authoritative) or ``.`` (clock not synchronised) flag is read past: the stamp is what
  the device believed.
* Uptime stamps (``7:04:``, ``00:00:12:``, ``1d02h:``) carry no date, so the line cannot be
  placed in time: it goes to ``unparsed``, kept as evidence for a technician, never guessed
  into an event. So does a message with no stamp at all, a stamp that cannot exist
  (``Feb 30``), and a buffer line cut by the buffer's wrap (``rtual-PPP2, changed state…``).
* ``%LINK-3-UPDOWN: Interface X, changed state to down`` and ``%LINEPROTO-5-UPDOWN: Line
  protocol on Interface X, changed state to down`` are link RAISE events, ``… to up`` link
  CLEAR events; ``source`` is the interface. ``administratively down`` (``%LINK-5-CHANGED``)
  is an admin action: listed as a RAISE with ``link`` False.
* Other messages are listed as events (``link`` False) only when they have an up/down sense:
  ``changed state to down|up``, ``is down|up``, a ``…_DOWN`` / ``LAYER2UP`` mnemonic, a BGP
  ``neighbor X Down|Up``; or, for power, fan and temperature messages, a failure (RAISE) or a
  return to normal (CLEAR). Any other stamped message (``%SYS-5-CONFIG_I``,
  ``%SYS-5-RESTART``, ``%ILPOWER-7-DETECT``, ``CEF-HWIDB: …``) was read but is no event:
  neither listed nor unparsed.
* A message whose year is unknown is placed by the latest-year rule; one printed with a year
  outside 1970 to 2199 is unparsed.
* ``alarm`` is the message code with its ``%``; ``severity`` the syslog level's name
  (``errors``, ``notifications``…); ``source`` the interface, controller or neighbour named,
  else the facility.
* The header, the XR command clock (``Fri Sep 25 23:34:26.169 UTC``) and continuation lines
  are read, not unparsed. The header makes the output ``recognised`` even with an empty
  buffer; so does any stamped message, and a prompt echoing ``show logging`` when nothing
  unreadable follows it.

Best effort beyond IOS and IOS-XE: IOS-XR lines (``RP/0/RP0/CPU0:Sep 25 …: ifmgr[189]:
%PKT_INFRA-LINK-3-UPDOWN : …``) are read the same way, and their ``PKT_INFRA-LINK`` and
``PKT_INFRA-LINEPROTO`` up/down messages count as link events (same meaning, same text). ASA
lines (``Aug 15 2019 13:44:38: %ASA-6-305011: …``) are read with their year; their numeric
messages are never link events, only listed when they have an up/down sense.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

from vigie_prober.drivers.base import ROUTER_PROMPT, YEARS, Line, read_transcript
from vigie_prober.schemas import AlarmEvent, EventKind, ParsedLog

__all__ = ["CiscoIos", "parse"]

COMMANDS: Final = ("terminal length 0", "show logging")

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_SEVERITIES: Final = (
    "emergencies",
    "alerts",
    "critical",
    "errors",
    "warnings",
    "notifications",
    "informational",
    "debugging",
)
_STAMPED: Final = re.compile(
    r"^\s*(?:\d+:\s+)?(?:\w+(?:/\w+)+:)?[*.]?"
    r"(?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?:(?P<year>\d{4})\s+)?"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))?"
    r"(?:\s+[A-Za-z][\w+\-]{0,9})?\s*:\s*(?P<message>.*)$"
)
_UPTIME: Final = re.compile(
    r"^\s*(?:\d+:\s+)?[*.]?(?:\d+[ywdh]\d+[wdhm]|\d+:\d{2}(?::\d{2})?(?:\.\d+)?)\s*:(?:\s|$)"
)
_XR_CLOCK: Final = re.compile(
    r"^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+[A-Za-z]{3}\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}"
    r"(?:\.\d+)?(?:\s+\w+)?\s*$"
)
_HEADER_START: Final = re.compile(
    r"^\s*(?:Syslog|Console|Monitor|Buffer|Trap) logging\s*:", re.IGNORECASE
)
_LOG_BUFFER: Final = re.compile(r"^\s*Log Buffer \(\d+ bytes\):?\s*$", re.IGNORECASE)
_CODE: Final = re.compile(
    r"%(?P<facility>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-(?P<level>[0-7])-"
    r"(?P<mnemonic>[A-Z0-9_]+)\s*:\s*(?P<text>.*)$"
)
_LINK_TEXT: Final = re.compile(
    r"Interface\s+(?P<source>[^\s,]+),?\s+changed state to\s+"
    r"(?P<state>administratively down|down|up)\b",
    re.IGNORECASE,
)
_STATE_WORD: Final = re.compile(
    r"\b(?:changed\s+(?:state\s+)?to|is\s+now|is|went|to)\s+"
    r"(?P<state>administratively\s+down|down|up)\b",
    re.IGNORECASE,
)
_NEIGHBOR: Final = re.compile(r"\bneighbou?r\s+\S+\s+(?P<state>Up|Down)\b")
_STATE_MNEMONIC: Final = re.compile(r"(?:^|_|LAYER\d)(?P<state>UP|DOWN)$")
_ENVIRONMENT: Final = re.compile(r"ENV|POWER|PWR|PSU|TEMP|FAN|THERM|VOLT", re.IGNORECASE)
_ENV_CLEAR: Final = re.compile(
    r"\b(?:ok|normal|restored|recovered|cleared|resumed|good)\b|OK$", re.IGNORECASE
)
_ENV_RAISE: Final = re.compile(
    r"\b(?:fail\w*|fault\w*|bad|critical|exceed\w*|over[\s-]?temp\w*|too high|removed|alarm)\b",
    re.IGNORECASE,
)
_SOURCE: Final = re.compile(
    r"\b(?:Interface|Controller)\s+(?P<where>[A-Za-z][\w\-/.:]*(?:\s+\d[\d/:.]*)?)"
    r"|\bneighbou?r\s+(?P<peer>[\w.:]+)"
    r"|\b(?P<unit>(?:Power supply|PS|Fan|Sensor)\s*\d+)",
    re.IGNORECASE,
)


class _Reading(NamedTuple):
    kind: EventKind
    link: bool
    source: str


def parse(text: str, *, tz: ZoneInfo, now: datetime) -> ParsedLog:
    """Read a Cisco ``show logging`` output (or a paste holding it) into events.

    Args:
        text: The output, or a paste holding it.
        tz: The device's zone: its stamps are local time.
        now: The time of reading; a stamp's year is the latest not after it (a naive ``now``
            is taken as local to ``tz``).

    Returns:
        The events in time order, the unread lines, and whether Cisco's log was found.
        Never raises.
    """
    transcript = read_transcript(text)
    reader = _Reader(
        tz,
        now if now.tzinfo is not None else now.replace(tzinfo=tz),
        echoed="show logging" in transcript.commands,
    )
    for line in transcript.lines:
        reader.feed(line)
    events = sorted(reader.events, key=lambda event: event.at)
    # The echo alone stands for an empty buffer only when nothing unreadable follows it.
    recognised = reader.recognised or (reader.echoed and not reader.unparsed)
    return ParsedLog(events=tuple(events), unparsed=tuple(reader.unparsed), recognised=recognised)


class _Reader:
    """Reads the lines one by one, knowing whether it is in the header or after a message."""

    def __init__(self, tz: ZoneInfo, now: datetime, *, echoed: bool) -> None:
        self.tz = tz
        self.now = now
        self.events: list[AlarmEvent] = []
        self.unparsed: list[str] = []
        self.echoed = echoed
        self.recognised = False
        self.in_header = False
        self.after_message = False

    def feed(self, line: Line) -> None:
        text = line.text
        if not text.strip():
            self.after_message = False
        elif _HEADER_START.match(text) or _LOG_BUFFER.match(text):
            self.recognised = True
            self.in_header = _LOG_BUFFER.match(text) is None
            self.after_message = False
        elif (stamped := _STAMPED.match(text)) is not None:
            self.in_header = False
            self._message(line, stamped)
        elif self.in_header or _XR_CLOCK.match(text) or self._continues(text):
            return
        else:
            self.after_message = False
            self.unparsed.append(text)

    def _continues(self, text: str) -> bool:
        """A line after a read message, that is not a message of its own, belongs to it."""
        return self.after_message and not _CODE.search(text) and not _UPTIME.match(text)

    def _message(self, line: Line, stamped: re.Match[str]) -> None:
        at = _placed(stamped, self.tz, self.now)
        if at is None:
            self.after_message = False
            self.unparsed.append(line.text)
            return
        self.recognised = self.after_message = True
        code = _CODE.search(stamped["message"])
        reading = _read(code) if code is not None else None
        if code is None or reading is None:
            return
        self.events.append(
            AlarmEvent(
                at=at,
                alarm=f"%{code['facility']}-{code['level']}-{code['mnemonic']}",
                source=reading.source,
                severity=_SEVERITIES[int(code["level"])],
                kind=reading.kind,
                link=reading.link,
                device=line.device,
                line=line.text,
            )
        )


def _placed(stamped: re.Match[str], tz: ZoneInfo, now: datetime) -> datetime | None:
    """The stamp as an aware datetime in ``tz``, or None when it cannot exist."""
    month = _MONTHS.get(stamped["month"].casefold())
    if month is None:
        return None
    day, hour, minute, second = (int(stamped[k]) for k in ("day", "h", "mi", "s"))
    micro = int((stamped["frac"] or "0").ljust(6, "0"))
    if stamped["year"] is not None:
        years = [int(stamped["year"])] if YEARS[0] <= int(stamped["year"]) <= YEARS[1] else []
    else:  # the latest year not after now; a 29 February may be 8 years back
        years = [year for year in range(now.year + 1, now.year - 9, -1) if year >= YEARS[0]]
    for year in years:
        try:
            at = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        except ValueError:
            continue
        if stamped["year"] is not None or at <= now:
            return at
    return None


def _read(code: re.Match[str]) -> _Reading | None:
    """What a message means: a link or other event, or None when it is no event."""
    facility, mnemonic, text = code["facility"], code["mnemonic"], code["text"]
    link_text = _LINK_TEXT.search(text)
    if facility.rsplit("-", 1)[-1] in {"LINK", "LINEPROTO"} and link_text is not None:
        state = link_text["state"].casefold()
        if state.startswith("admin"):
            return _Reading(EventKind.RAISE, link=False, source=link_text["source"])
        kind = EventKind.RAISE if state == "down" else EventKind.CLEAR
        return _Reading(kind, link=mnemonic == "UPDOWN", source=link_text["source"])
    sense = _sense(mnemonic, text)
    if sense is None and _ENVIRONMENT.search(f"{facility}-{mnemonic}"):
        sense = _environment(mnemonic, text)
    if sense is None:
        return None
    return _Reading(sense, link=False, source=_source(text, facility))


def _sense(mnemonic: str, text: str) -> EventKind | None:
    """The up/down sense of a message, if it has one (administratively down is a RAISE)."""
    found = _STATE_WORD.search(text) or _NEIGHBOR.search(text) or _STATE_MNEMONIC.search(mnemonic)
    if found is None:
        return None
    return EventKind.CLEAR if found["state"].casefold() == "up" else EventKind.RAISE


def _environment(mnemonic: str, text: str) -> EventKind | None:
    """Power, fan, temperature: back to normal clears, a failure raises."""
    if _ENV_CLEAR.search(text) or mnemonic.endswith("OK"):
        return EventKind.CLEAR
    if _ENV_RAISE.search(text) or _ENV_RAISE.search(mnemonic.replace("_", " ")):
        return EventKind.RAISE
    return None


def _source(text: str, facility: str) -> str:
    """The interface, controller, neighbour or unit a message names, else its facility."""
    found = _SOURCE.search(text)
    if found is None:
        return facility
    return (found["where"] or found["peer"] or found["unit"]).rstrip(":,.")


class CiscoIos:
    """The Cisco IOS / IOS-XE driver (IOS-XR and ASA lines read on a best-effort basis)."""

    name = "cisco_ios"
    commands: tuple[str, ...] = COMMANDS
    prompt = ROUTER_PROMPT

    def parse(self, text: str, *, tz: ZoneInfo, now: datetime) -> ParsedLog:
        """Read ``show logging``; see :func:`parse`."""
        return parse(text, tz=tz, now=now)
