"""A running device's state: its spec, clock, credentials, keys, and what it was sent."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncssh

from vigie_lab.drivers import PERSONALITIES, Personality
from vigie_lab.histories import Cut, cuts
from vigie_lab.kinds import NoSsh
from vigie_lab.scenario_file import DeviceSpec

__all__ = ["Device", "LabDevice", "check_login"]


def check_login(username: str, password: str, *, expected: tuple[str, str]) -> bool:
    """Constant-time check of a login against the expected ``(username, password)``."""
    user_ok = hmac.compare_digest(username.encode(), expected[0].encode())
    password_ok = hmac.compare_digest(password.encode(), expected[1].encode())
    return user_ok and password_ok


@dataclass(eq=False)
class Device:
    """One simulated router while the lab runs (its password is never shown in a repr)."""

    spec: DeviceSpec
    started: datetime
    clock: Callable[[], datetime]
    password: str = field(repr=False)
    known_key: asyncssh.SSHKey = field(repr=False)
    presented_key: asyncssh.SSHKey = field(repr=False)
    port: int = 0
    commands: list[str] = field(default_factory=list)
    connections: set[asyncssh.SSHServerConnection] = field(default_factory=set, repr=False)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    @property
    def name(self) -> str:
        """The hostname, in its prompt."""
        return self.spec.name

    @property
    def personality(self) -> Personality:
        """Its vendor's CLI."""
        return PERSONALITIES[self.spec.driver]

    @property
    def answers_ping(self) -> bool:
        """Whether the jump host's ping reaches it."""
        scenario = self.spec.scenario
        return not isinstance(scenario, NoSsh) or scenario.answers_ping

    def now(self) -> datetime:
        """The device's clock (the lab's)."""
        return self.clock()

    def cuts(self) -> list[Cut]:
        """Its history up to now."""
        return cuts(self.spec.scenario, started=self.started, now=self.now(), tz=self.spec.zone)

    def log(self) -> str:
        """What its log command prints now."""
        return self.personality.log(self.cuts(), now=self.now(), tz=self.spec.zone)

    def accepts(self, username: str, password: str) -> bool:
        """Whether this login is the device's (a ``wrong_password`` device is told to refuse)."""
        return check_login(username, password, expected=(self.spec.username, self.password))


@dataclass(frozen=True)
class LabDevice:
    """What a test or a technician needs to reach a device of a running lab.

    Attributes:
        name: Hostname.
        driver: ``rad_etx`` or ``cisco_ios``.
        address: Loopback address it listens on.
        port: Port it listens on (for ``no_ssh``: a port held with nothing listening).
        username: Login it accepts.
        timezone: Zone of its log.
        scenario: The scenario's kind.
        host_key: Its key as written to known_hosts (``ssh-ed25519 AAAA…``); a
            ``host_key_changed`` device presents another one.
    """

    name: str
    driver: str
    address: str
    port: int
    username: str
    timezone: str
    scenario: str
    host_key: str
