"""Reading a command's output off an SSH channel, bounded in bytes and in time.

Output is read in chunks as it arrives. Past the byte cap, reading stops, the channel is
closed and :class:`~vigie_prober.errors.OutputTooLarge` carries the first bytes as evidence;
past the time cap (for the whole command: opening the channel, the output, its end),
:class:`~vigie_prober.errors.CommandTimeout` carries what came so far. Since nothing more is
read, asyncssh's flow control (the channel's window) holds the router back: memory stays the
cap plus one window per channel, whatever the router sends. Bytes are decoded as UTF-8 with
``errors="replace"``: a garbled console gives replacement characters, not an exception.

Two ways to run a command, as the lab and routers offer them:

* ``exec`` (the default): one SSH exec request per command; the output ends with the channel.
* ``shell``: one interactive session per device; each command is typed, and its output ends
  at the device's prompt. A ``--More--`` pager is answered with a space.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Final

import asyncssh

from vigie_prober.errors import CommandFailed, CommandTimeout, OutputTooLarge

__all__ = ["Caps", "CommandOutput", "Shell", "run_exec"]

_CHUNK: Final = 64 * 1024
_PAGER: Final = re.compile(rb"-{1,3} ?More ?-{1,3} ?$")
_TAIL: Final = 512


@dataclass(frozen=True, slots=True)
class Caps:
    """Bounds on one command: bytes read, and seconds for the whole of it."""

    max_bytes: int = 4 * 1024 * 1024
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """One command's output.

    Attributes:
        command: The command, as sent.
        text: Its output (stdout and stderr together), decoded.
        exit_status: The exit status of an exec request; None in a shell.
        bytes_read: Bytes received.
        duration_s: Seconds from sending it to the end of its output.
    """

    command: str
    text: str
    exit_status: int | None
    bytes_read: int
    duration_s: float


class _Overflow(Exception):
    """The byte cap was reached (internal)."""


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _take(buffer: bytearray, chunk: bytes, limit: int) -> None:
    """Append ``chunk`` to ``buffer`` up to ``limit`` bytes.

    Raises:
        _Overflow: Some of the chunk did not fit.
    """
    room = limit - len(buffer)
    buffer += chunk[:room]
    if len(chunk) > room:
        raise _Overflow


async def run_exec(
    conn: asyncssh.SSHClientConnection, command: str, *, caps: Caps, host: str
) -> CommandOutput:
    """Run ``command`` as an exec request, within the caps.

    Args:
        conn: A logged-in connection.
        command: The command (already admitted by the allow-list).
        caps: Byte and time caps.
        host: The device, for errors.

    Raises:
        CommandTimeout: The output did not end in time; it carries what came.
        OutputTooLarge: More than ``caps.max_bytes``; it carries the first bytes.
        CommandFailed: The session failed (channel refused, connection lost).
    """
    started = time.perf_counter()
    buffer = bytearray()
    process: asyncssh.SSHClientProcess[bytes] | None = None
    try:
        async with asyncio.timeout(caps.timeout):
            process = await conn.create_process(command, encoding=None, stderr=asyncssh.STDOUT)
            while chunk := await process.stdout.read(_CHUNK):
                _take(buffer, chunk, caps.max_bytes)
            await process.wait_closed()
    except TimeoutError:
        raise CommandTimeout(
            command=command,
            timeout=caps.timeout,
            output=_decode(buffer),
            bytes_read=len(buffer),
            host=host,
        ) from None
    except _Overflow:
        raise OutputTooLarge(
            command=command, limit=caps.max_bytes, output=_decode(buffer), host=host
        ) from None
    except (asyncssh.Error, OSError) as error:
        raise _failed(command, host, error, buffer) from None
    finally:
        if process is not None:
            process.close()
    return CommandOutput(
        command=command,
        text=_decode(buffer),
        exit_status=process.exit_status,
        bytes_read=len(buffer),
        duration_s=time.perf_counter() - started,
    )


def _failed(command: str, host: str, error: BaseException, buffer: bytearray) -> CommandFailed:
    cause = str(error)[:200] or type(error).__name__
    return CommandFailed(
        f"session failed on {host}: {cause}", command=command, output=_decode(buffer), host=host
    )


class Shell:
    """One interactive session on a device: type a command, read up to the prompt."""

    def __init__(
        self, process: asyncssh.SSHClientProcess[bytes], *, prompt: re.Pattern[str], host: str
    ) -> None:
        self._process = process
        self._prompt = prompt
        self._host = host
        self.banner = ""

    @classmethod
    async def open(
        cls,
        conn: asyncssh.SSHClientConnection,
        *,
        prompt: re.Pattern[str],
        caps: Caps,
        host: str,
    ) -> Shell:
        """Open a shell and wait for the device's first prompt (within the caps).

        Raises:
            CommandTimeout: No prompt in time.
            OutputTooLarge: The banner is larger than the cap.
            CommandFailed: The session could not be opened.
        """
        try:
            async with asyncio.timeout(caps.timeout):
                process = await conn.create_process(
                    term_type="dumb", encoding=None, stderr=asyncssh.STDOUT
                )
        except TimeoutError:
            raise CommandTimeout(
                command="<shell>", timeout=caps.timeout, output="", bytes_read=0, host=host
            ) from None
        except (asyncssh.Error, OSError) as error:
            raise _failed("<shell>", host, error, bytearray()) from None
        shell = cls(process, prompt=prompt, host=host)
        try:
            shell.banner = (await shell._until_prompt("<shell>", caps)).text
        except BaseException:
            shell.close()
            raise
        return shell

    async def run(self, command: str, *, caps: Caps) -> CommandOutput:
        """Type ``command`` and read its output up to the next prompt.

        The output returned is the command's own, as an exec request gives it: the echo of
        the command and the prompt after it are taken off. A driver then reads the same text
        whichever way it came (a prompt echoing the command would otherwise make any output,
        garbage included, look like the vendor's).

        Raises:
            CommandTimeout: No prompt in time.
            OutputTooLarge: More than the cap before the prompt.
            CommandFailed: The session failed.
        """
        try:
            self._process.stdin.write(command.encode("ascii") + b"\r")
        except (asyncssh.Error, OSError) as error:
            raise _failed(command, self._host, error, bytearray()) from None
        output = await self._until_prompt(command, caps)
        return CommandOutput(
            command=command,
            text=self._bare(command, output.text),
            exit_status=None,
            bytes_read=output.bytes_read,
            duration_s=output.duration_s,
        )

    def _bare(self, command: str, text: str) -> str:
        """``text`` without the echo of ``command`` before it and the prompt after it."""
        first, newline, rest = text.partition("\n")
        if newline and " ".join(first.split()) == command:
            text = rest
        body, newline, last = text.rpartition("\n")
        if self._prompt.search(last.replace("\r", "")):
            text = body + newline
        return text

    async def _until_prompt(self, command: str, caps: Caps) -> CommandOutput:
        started = time.perf_counter()
        buffer = bytearray()
        try:
            async with asyncio.timeout(caps.timeout):
                while chunk := await self._process.stdout.read(_CHUNK):
                    _take(buffer, chunk, caps.max_bytes)
                    tail = bytes(buffer[-_TAIL:])
                    if _PAGER.search(tail):
                        self._process.stdin.write(b" ")
                        continue
                    last = _decode(tail).rsplit("\n", 1)[-1].replace("\r", "")
                    if self._prompt.search(last):
                        break
        except TimeoutError:
            raise CommandTimeout(
                command=command,
                timeout=caps.timeout,
                output=_decode(buffer),
                bytes_read=len(buffer),
                host=self._host,
            ) from None
        except _Overflow:
            raise OutputTooLarge(
                command=command, limit=caps.max_bytes, output=_decode(buffer), host=self._host
            ) from None
        except (asyncssh.Error, OSError) as error:
            raise _failed(command, self._host, error, buffer) from None
        return CommandOutput(
            command=command,
            text=_decode(buffer),
            exit_status=None,
            bytes_read=len(buffer),
            duration_s=time.perf_counter() - started,
        )

    def close(self) -> None:
        """Close the session's channel (no ``exit`` is typed: closing is enough)."""
        self._process.close()
