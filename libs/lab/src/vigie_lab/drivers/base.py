"""What a simulated router's CLI must know: its prompt, its log command and how it prints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from vigie_lab.histories import Cut

__all__ = ["Personality"]


class Personality(Protocol):
    """One vendor's CLI as the lab plays it. Pure: text out of cuts, ``now`` and a zone.

    Contract:

    * ``prompt(host)`` is the bare prompt, printed before each command of a shell.
    * ``log_command`` is the one command that prints the history (exact words).
    * ``log`` prints the cuts that began by ``now`` in the device's zone, as the device does;
      a cut still going on at ``now`` shows only its raises. Lines end in LF.
    * ``filler`` is a block of older, well-formed log text: repeated, it makes a huge output.
    * ``ping`` is the router's own answer to ``ping <target>`` (every echo answered).
    * ``pager_lines`` is the default page length of an interactive shell (0: no pager).
    """

    name: str
    log_command: str
    pager_lines: int

    def prompt(self, host: str) -> str:
        """The prompt, e.g. ``ETX203AM.HOST#``."""
        ...

    def log(self, cuts: Sequence[Cut], *, now: datetime, tz: ZoneInfo) -> str:
        """The log command's output."""
        ...

    def filler(self, *, now: datetime, tz: ZoneInfo) -> str:
        """About 64 KiB of old, well-formed log lines."""
        ...

    def ping(self, target: str) -> str:
        """The router's ``ping`` output."""
        ...
