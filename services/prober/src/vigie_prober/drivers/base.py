"""The driver contract, and the reading of a session transcript every driver shares.

A driver knows one vendor's CLI: which read-only commands it sends, in order, and how to read
what comes back into a :class:`~vigie_prober.schemas.ParsedLog`. Drivers are pure: text, zone
and time in, values out.

What a technician pastes is rarely the bare log. :func:`read_transcript` sets aside what is
not the log before a driver reads it: line ends of any kind (CRLF, CR), pager prompts
(``--More--``), ANSI escapes and backspaces, ``^C``, the prompts of the router
(``ETX203AM.HOST#``, ``R1>``, ``RP/0/RP0/CPU0:R2#``) and of the jump host
(``[tech@rebond ~]$``), the ssh chatter between them, and every ping output. The last router
prompt seen names the device of the lines after it, and a prompt followed by one of the
driver's commands is proof that the command ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from vigie_prober.pings import is_ping_line
from vigie_prober.schemas import ParsedLog

__all__ = [
    "ROUTER_PROMPT",
    "YEARS",
    "Driver",
    "Line",
    "Transcript",
    "normalise_command",
    "read_transcript",
]

YEARS: Final = (1970, 2199)
"""Years a stamp may carry; outside them a date is taken as garbled and its line is unparsed."""

_PROMPT_NAME: Final = r"(?P<name>[A-Za-z0-9][\w.\-/:]*)(?:\([\w\-/.]+\))?(?:>[\w\-/.]+)*"
ROUTER_PROMPT: Final = re.compile(rf"^{_PROMPT_NAME}[#>][ \t]*$", re.MULTILINE)
"""A router's bare prompt on a line of its own: where an interactive command's output ends."""

_PROMPT_LINE: Final = re.compile(rf"^{_PROMPT_NAME}[#>][ \t]*(?P<command>.*)$")
_SHELL_PROMPT: Final = re.compile(
    r"^(?:\[[^\]]*\]|[\w.\-]+@[\w.\-]+(?::\S*)?)\s?[$#%][ \t]*(?P<command>.*)$"
)
_CHATTER: Final = re.compile(
    r"^(?:.*'s password:|Password:|Last login:.*|Connection to \S+ closed\.?"
    r"|Warning: Permanently added .*|Connection closed by .*)\s*$",
    re.IGNORECASE,
)
_PAGER_AND_ESCAPES: Final = re.compile(r"\x1b\[[0-9;?]{0,16}[A-Za-z]|\x08| ?-{1,3} ?More ?-{1,3} ?")
_INTERRUPT: Final = re.compile(r"^\s*\^C|\^C\s*$")


class Driver(Protocol):
    """One vendor's CLI, spoken read-only.

    Contract every driver keeps:

    * ``name`` is its key in :data:`vigie_prober.drivers.DRIVERS` (``rad_etx``, ``cisco_ios``).
    * ``commands`` are sent in this order, each exactly as written; every one of them is in
      :data:`vigie_prober.allowlist.ALLOWED` for ``name`` (a test checks).
    * ``prompt`` matches the device's bare prompt on a line of its own (multiline pattern).
    * ``parse`` reads the output of those commands, or a technician's paste around it. It is
      pure and never raises on any text: a line it cannot read goes to ``unparsed``. Every
      event's ``at`` is aware, in ``tz`` (the device's log is local time); events come in
      time order. ``recognised`` is False when nothing of this vendor's output was found.
    """

    @property
    def name(self) -> str:
        """The driver's key in the registry."""
        ...

    @property
    def commands(self) -> tuple[str, ...]:
        """The read-only commands to send, in order."""
        ...

    @property
    def prompt(self) -> re.Pattern[str]:
        """The device's bare prompt."""
        ...

    def parse(self, text: str, *, tz: ZoneInfo, now: datetime) -> ParsedLog:
        """Read the commands' output into events.

        Args:
            text: What the device printed, or a technician's paste around it.
            tz: The device's zone: its stamps are local time.
            now: The time of reading; stamps without a year are placed at or before it.

        Returns:
            The events in time order, the lines that could not be read, and whether the
            output was this vendor's at all.
        """
        ...


@dataclass(frozen=True)
class Line:
    """One line left for a driver to read.

    Attributes:
        text: The line as printed, without its line end, pager prompts and escapes; blank
            lines are kept as ``""`` (some shapes end at a blank line).
        device: The name in the last router prompt before it, if any.
    """

    text: str
    device: str | None


@dataclass(frozen=True)
class Transcript:
    """A session transcript with the prompts, pings and chatter set aside.

    Attributes:
        lines: The lines left, in order.
        commands: The commands echoed after a router prompt, normalised.
    """

    lines: tuple[Line, ...]
    commands: frozenset[str]


def normalise_command(command: str) -> str:
    """Collapse a command's whitespace the way a CLI reads it.

    Args:
        command: A command as typed.

    Returns:
        Its words joined by single spaces.
    """
    return " ".join(command.split())


def read_transcript(text: str) -> Transcript:
    """Set aside everything of a session that is not a command's output.

    Args:
        text: A device's output or a technician's paste.

    Returns:
        The remaining lines, each with the device whose prompt came last, and the commands
        echoed after a router prompt.
    """
    lines: list[Line] = []
    commands: set[str] = set()
    device: str | None = None
    for raw in text.splitlines():
        line = _INTERRUPT.sub("", _PAGER_AND_ESCAPES.sub("", raw)).rstrip()
        if (prompt := _PROMPT_LINE.match(line)) is not None:
            device = prompt["name"].rsplit(":", 1)[-1] or device
            commands.add(normalise_command(prompt["command"]))
        elif (shell := _SHELL_PROMPT.match(line)) is not None:
            commands.add(normalise_command(shell["command"]))
        elif not (_CHATTER.match(line) or is_ping_line(line)):
            lines.append(Line(text=line, device=device))
    commands.discard("")
    return Transcript(lines=tuple(lines), commands=frozenset(commands))
