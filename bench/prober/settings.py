"""What each contender's child process is told: the same bounds for every one of them."""

from __future__ import annotations

from dataclasses import dataclass

from bench.prober.fleet import Passwords


@dataclass(frozen=True)
class RunSettings:
    """One contender's run.

    Attributes:
        concurrency: Routers in flight at once (vigie: its session bound, global and per jump
            host; the asyncio peers: a semaphore).
        workers: Netmiko's thread pool size.
        via_jump: Reach every router through the lab's jump host (one SSH connection to it,
            each router tunnelled in a direct-tcpip channel).
        ping: Where vigie's layer 1 pings from (``prober``, ``jump_host`` or ``none``).
        connect_timeout: Seconds for TCP, key exchange and login.
        command_timeout: Seconds for the alarm-log command.
        passwords: The lab's passwords.
    """

    concurrency: int
    workers: int
    via_jump: bool
    ping: str
    connect_timeout: float
    command_timeout: float
    passwords: Passwords
