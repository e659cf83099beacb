"""The read-only commands each driver may send to a router: nothing else ever reaches one.

Every command goes through :func:`check` before it is written to a channel, and what is sent
is the value ``check`` returns (the canonical spelling), never the caller's string.

Rules:

* A command is allowed when, its whitespace collapsed (leading, trailing and repeated spaces or
  tabs), it is exactly one of :data:`ALLOWED` for the driver: same words, same case, no
  abbreviation (``sh log`` is refused: what runs must be what was reviewed).
* ``ping <address>`` is allowed where :data:`PING_DRIVERS` says so, for an IPv4 or IPv6 literal
  only (no host name, no option); it is returned with the address in its canonical form.
* Refused whatever the words: any control character (newline, carriage return, escape, NUL:
  a second command smuggled into an interactive shell), any character outside printable
  ASCII, and ``;``, ``|``, ``&``, `````, ``$``, ``<``, ``>`` (chaining, pipes, redirection).
* Configuration commands (``configure``, ``conf t``), ``reload``, ``copy``, ``write``, ``debug``,
  ``clear`` … are refused because they are not listed; nothing is refused by a deny-list.
* An unknown driver has no command allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from vigie_prober.drivers.base import normalise_command
from vigie_prober.errors import CommandRefused

__all__ = ["ALLOWED", "PING_DRIVERS", "CommandRefused", "check"]

ALLOWED: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "rad_etx": frozenset({"show configure reporting alarm-log", "exit"}),
        "cisco_ios": frozenset({"terminal length 0", "show logging", "exit"}),
    }
)
"""Driver name → the exact read-only commands it may send. ``terminal length 0`` only turns
the pager off for the session; ``exit`` ends an interactive session."""

PING_DRIVERS: Final = frozenset({"rad_etx", "cisco_ios"})
"""Drivers whose routers may be asked to ``ping <address>`` (the router-side reachability)."""

_CONTROL: Final = re.compile(r"[^\x20-\x7e\t]")
_METACHARACTERS: Final = re.compile(r"[;|&`$<>]")


def check(driver: str, command: str) -> str:
    """Admit a command for a driver, or refuse it.

    Args:
        driver: The driver's name (``rad_etx``, ``cisco_ios``).
        command: The command about to be sent.

    Returns:
        The command to send: its canonical spelling.

    Raises:
        CommandRefused: The command is not allowed for this driver; nothing may be sent.
    """
    if _CONTROL.search(command):
        raise CommandRefused(command, driver, reason="control or non-ASCII character")
    if _METACHARACTERS.search(command):
        raise CommandRefused(command, driver, reason="command separator, pipe or redirection")
    if driver not in ALLOWED:
        raise CommandRefused(command, driver, reason="unknown driver: no command is allowed")
    canonical = normalise_command(command)
    if canonical in ALLOWED[driver]:
        return canonical
    if driver in PING_DRIVERS and (ping := _ping(canonical)) is not None:
        return ping
    raise CommandRefused(command, driver, reason="not on the driver's allow-list")


def _ping(command: str) -> str | None:
    """``ping <IP literal>`` in canonical form, or None for anything else."""
    words = command.split(" ")
    if len(words) != 2 or words[0] != "ping" or "%" in words[1]:
        return None
    try:
        address = ipaddress.ip_address(words[1])
    except ValueError:
        return None
    return f"ping {address}"
