"""The jump host (``rebond``): a login of its own, port forwarding to the fleet only, ``ping``.

Technicians reach routers through it; so does the prober (``asyncssh.connect(...,
tunnel=jump)``). A direct-tcpip request is allowed only to an address and port where a lab
device is; anything else is refused (``administratively prohibited``), recorded in
``JumpHost.refused`` and logged. Sessions answer ``ping [-c N] <ip>`` the way Linux iputils
does: replies from the devices that are up (about the same round-trip time each run), 100 %
loss for any other address. Any other command gets ``command not found``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import random
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from vigie_lab.devices import check_login
from vigie_lab.linux_ping import parse_ping, render_ping
from vigie_lab.scenario_file import JumpHostSpec
from vigie_lab.terminal import Terminal

__all__ = ["JumpHost", "JumpServer", "jump_options", "rtt_of"]

log = logging.getLogger(__name__)


def rtt_of(address: str) -> float:
    """A device's usual round-trip time from the jump host, 2 to 30 ms, fixed per address."""
    digest = hashlib.sha256(address.encode()).digest()
    return 2.0 + int.from_bytes(digest[:2], "big") / 65535 * 28.0


def _canonical(host: str) -> str | None:
    with suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return None


@dataclass(eq=False)
class JumpHost:
    """The jump host while the lab runs (its password is never shown in a repr).

    Attributes:
        allowed: ``(address, port)`` pairs it forwards to: the fleet's.
        answering: Addresses whose devices answer its ping.
        commands: Every command its sessions received.
        refused: Every forwarding it refused, as asked.
    """

    spec: JumpHostSpec
    password: str = field(repr=False)
    key: asyncssh.SSHKey = field(repr=False)
    port: int = 0
    allowed: set[tuple[str, int]] = field(default_factory=set)
    answering: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)
    connections: set[asyncssh.SSHServerConnection] = field(default_factory=set, repr=False)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)
    pings: int = 0

    def allows(self, host: str, port: int) -> bool:
        """Whether a forwarding to ``host:port`` goes to a lab device (IP literals only)."""
        address = _canonical(host)
        return address is not None and (address, port) in self.allowed

    def ping(self, words: list[str]) -> tuple[str, int]:
        """``ping`` with these arguments: output and exit status."""
        request = parse_ping(words)
        if isinstance(request, str):
            return f"{request}\n", 2
        address = _canonical(request.target)
        if address is None:
            return f"ping: {request.target}: Name or service not known\n", 2
        self.pings += 1
        rng = random.Random(f"{address}/{self.pings}")  # noqa: S311 - jitter, not secrets
        up = address in self.answering or address == self.spec.address
        return render_ping(request, rtt_ms=rtt_of(address) if up else None, rng=rng)


class JumpServer(asyncssh.SSHServer):
    """One connection to the jump host."""

    def __init__(self, jump: JumpHost) -> None:
        self._jump = jump
        self._connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Keep the connection, so the lab can close it on stop."""
        self._connection = conn
        self._jump.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        if self._connection is not None:
            self._jump.connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        """Every login needs a password."""
        return True

    def password_auth_supported(self) -> bool:
        """Password logins."""
        return True

    def validate_password(self, username: str, password: str) -> bool:
        """The jump host's own login."""
        return check_login(
            username, password, expected=(self._jump.spec.username, self._jump.password)
        )

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        """Forward to a lab device; refuse anything else.

        Raises:
            asyncssh.ChannelOpenError: ``administratively prohibited`` for any other place.
        """
        if self._jump.allows(dest_host, dest_port):
            return True
        self._jump.refused.append((dest_host, dest_port))
        log.warning("lab jump host: forwarding to %s:%s refused", dest_host[:100], dest_port)
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
            f"forwarding to {dest_host[:100]}:{dest_port} refused: not a lab device",
        )

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """No remote forwarding."""
        return False


def jump_options(jump: JumpHost) -> asyncssh.SSHServerConnectionOptions:
    """The jump host's server options."""

    async def process_factory(process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        if task is not None:
            jump.tasks.add(task)
        try:
            await _serve(process, jump)
        finally:
            jump.tasks.discard(task)

    return asyncssh.SSHServerConnectionOptions(
        server_factory=lambda: JumpServer(jump),
        server_host_keys=[jump.key],
        process_factory=process_factory,
        encoding=None,
        line_editor=False,
        allow_scp=False,
    )


async def _serve(process: asyncssh.SSHServerProcess[bytes], jump: JumpHost) -> None:
    # A Linux tty turns LF into CRLF; without a terminal the bytes go out as written.
    terminal = Terminal(process, newline=b"\r\n" if process.term_type else b"\n")
    status = 0
    try:
        if process.command is not None:
            output, status = _run(jump, process.command)
            await terminal.write(output)
        elif not process.subsystem:
            await _shell(terminal, jump)
        else:
            status = 1
    except (OSError, asyncssh.Error):
        status = 255
    finally:
        with suppress(OSError, asyncssh.Error):
            process.exit(status)


def _run(jump: JumpHost, line: str) -> tuple[str, int]:
    words = line.split()
    if words:
        jump.commands.append(line)
    if not words:
        return "", 0
    if words[0] == "ping":
        return jump.ping(words[1:])
    log.warning("lab jump host: unknown command %r", line[:200])
    return f"-bash: {words[0][:100]}: command not found\n", 127


async def _shell(terminal: Terminal, jump: JumpHost) -> None:
    prompt = f"[{jump.spec.username}@{jump.spec.name} ~]$ "
    await terminal.write(prompt)
    while (raw := await terminal.readline()) is not None:
        line = raw.decode("utf-8", "replace")
        await terminal.write(f"{line}\n")
        if line.split() in (["exit"], ["logout"]):
            jump.commands.append(line)
            return
        output, _ = _run(jump, line)
        await terminal.write(output + prompt)
