"""The routers' SSH side: login, then an interactive CLI or one exec command.

Both ways run the same interpreter: the log command, ``ping <ip>``, ``exit``, ``terminal
length N`` (Cisco) and, for anything else, ``% Invalid input detected``. Every command is
recorded (``Device.commands``) and an unknown one is logged, so a test can check that a client
sent nothing but its allow-list. The scenario's misbehaviour applies at login (wrong password),
after it (hang) or to the log command (garbage, huge, slow drip).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from contextlib import suppress
from typing import Final, NamedTuple

import asyncssh

from vigie_lab.devices import Device
from vigie_lab.kinds import Garbage, HangsAfterLogin, HugeOutput, SlowDrip, WrongPassword
from vigie_lab.payloads import garbage, huge
from vigie_lab.terminal import Terminal

__all__ = ["INVALID", "RouterServer", "router_options", "serve"]

log = logging.getLogger(__name__)

INVALID: Final = "% Invalid input detected at '^' marker."
_MORE: Final = b" --More-- "
_ERASE: Final = b"\x08" * len(_MORE) + b" " * len(_MORE) + b"\x08" * len(_MORE)


class Command(NamedTuple):
    """A typed line, read: ``log``, ``ping``, ``length``, ``exit``, ``empty`` or ``invalid``."""

    kind: str
    argument: str = ""


def interpret(line: str, device: Device) -> Command:
    """Read a command the way the device does: exact words, whitespace collapsed."""
    words = line.split()
    text = " ".join(words)
    personality = device.personality
    if not words:
        return Command("empty")
    if text == personality.log_command:
        return Command("log")
    if text == "exit":
        return Command("exit")
    if len(words) == 2 and words[0] == "ping":
        with suppress(ValueError):
            return Command("ping", str(ipaddress.ip_address(words[1])))
    length = words[:2] == ["terminal", "length"] and len(words) == 3 and words[2].isdigit()
    if personality.pager_lines and length and int(words[2]) <= 512:
        return Command("length", words[2])
    return Command("invalid")


class RouterServer(asyncssh.SSHServer):
    """One connection to a device: password login, nothing forwarded."""

    def __init__(self, device: Device) -> None:
        self._device = device
        self._connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Keep the connection, so the lab can close it on stop."""
        self._connection = conn
        self._device.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        if self._connection is not None:
            self._device.connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        """Every login needs a password."""
        return True

    def password_auth_supported(self) -> bool:
        """Passwords, as CPE routers behind a TACACS server take them."""
        return True

    def validate_password(self, username: str, password: str) -> bool:
        """The device's login, unless its scenario refuses every one."""
        if isinstance(self._device.spec.scenario, WrongPassword):
            return False
        return self._device.accepts(username, password)


def router_options(device: Device) -> asyncssh.SSHServerConnectionOptions:
    """The device's server options: its presented key, bytes I/O, no line editor, no SFTP."""

    async def process_factory(process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        if task is not None:
            device.tasks.add(task)
        try:
            await serve(process, device)
        finally:
            device.tasks.discard(task)

    return asyncssh.SSHServerConnectionOptions(
        server_factory=lambda: RouterServer(device),
        server_host_keys=[device.presented_key],
        process_factory=process_factory,
        encoding=None,
        line_editor=False,
        allow_scp=False,
        keepalive_interval=0,
    )


async def serve(process: asyncssh.SSHServerProcess[bytes], device: Device) -> None:
    """Run one session (shell or exec) to its end; the client leaving ends it quietly."""
    terminal = Terminal(process)
    status = 0
    try:
        if process.subsystem:
            status = 1
        elif isinstance(device.spec.scenario, HangsAfterLogin):
            await _hang(terminal, process, device)
        elif process.command is not None:
            status = await _exec(terminal, device, process.command)
        else:
            await _shell(terminal, device)
    except (OSError, asyncssh.Error):
        status = 255
    finally:
        with suppress(OSError, asyncssh.Error):
            process.exit(status)


def _record(device: Device, command: str, *, invalid: bool) -> None:
    device.commands.append(command)
    if invalid:
        log.warning("lab device %s: invalid command %r", device.name, command[:200])


async def _hang(
    terminal: Terminal, process: asyncssh.SSHServerProcess[bytes], device: Device
) -> None:
    """Accept input and never answer, until the client closes the channel.

    The client's end of input alone does not end the wait: a hung router does not notice it.
    """
    if process.command is not None:
        _record(device, process.command, invalid=False)
    while (line := await terminal.readline()) is not None:
        if line.strip():
            _record(device, line.decode("utf-8", "replace"), invalid=False)
    await process.channel.wait_closed()


async def _exec(terminal: Terminal, device: Device, line: str) -> int:
    command = interpret(line, device)
    _record(device, line, invalid=command.kind == "invalid")
    if command.kind == "invalid":
        await terminal.write(f"{INVALID}\n")
        return 1
    await _answer(terminal, device, command, pager=0)
    return 0


async def _shell(terminal: Terminal, device: Device) -> None:
    """Prompt, echo, answer, until ``exit`` or the end of input."""
    personality = device.personality
    prompt = personality.prompt(device.name)
    pager = personality.pager_lines
    await terminal.write(f"\n{prompt}")
    while (raw := await terminal.readline()) is not None:
        line = raw.decode("utf-8", "replace")
        await terminal.write(f"{line}\n")
        command = interpret(line, device)
        if command.kind != "empty":
            _record(device, line, invalid=command.kind == "invalid")
        if command.kind == "exit":
            return
        if command.kind == "length":
            pager = int(command.argument)
        elif command.kind == "invalid":
            await terminal.write(f"{' ' * len(prompt)}^\n{INVALID}\n\n")
        else:
            await _answer(terminal, device, command, pager=pager)
        await terminal.write(prompt)


async def _answer(terminal: Terminal, device: Device, command: Command, *, pager: int) -> None:
    """The output of a valid command, with the scenario's misbehaviour on the log command."""
    if command.kind == "ping":
        await terminal.write(device.personality.ping(command.argument))
    if command.kind != "log":
        return
    scenario = device.spec.scenario
    if isinstance(scenario, Garbage):
        await terminal.write(garbage(device.name))
    elif isinstance(scenario, HugeOutput):
        crlf = b"\r\n"
        first = device.log().encode().replace(b"\n", crlf)
        filler = device.personality.filler(now=device.now(), tz=device.spec.zone)
        for piece in huge(first, filler.encode().replace(b"\n", crlf), scenario.bytes):
            await terminal.write_raw(piece)
    elif isinstance(scenario, SlowDrip):
        await terminal.drip(device.log().encode(), scenario.bytes_per_second)
    else:
        await _paged(terminal, device.log(), pager)


async def _paged(terminal: Terminal, text: str, page: int) -> None:
    """Write ``text``, stopping at ``--More--`` every ``page`` lines (0: no pager)."""
    lines = text.splitlines(keepends=True)
    if page <= 0 or len(lines) < page:
        await terminal.write(text)
        return
    position = page - 1
    await terminal.write("".join(lines[:position]))
    while position < len(lines):
        await terminal.write_raw(_MORE)
        key = await terminal.readkey()
        await terminal.write_raw(_ERASE)
        if key == b" ":
            step = page - 1
        elif key == b"\n":
            step = 1
        else:
            return
        await terminal.write("".join(lines[position : position + step]))
        position += step
