"""The byte-level side of a session: reading typed lines and keys, writing with CRLF."""

from __future__ import annotations

import asyncio
from typing import Final

import asyncssh

__all__ = ["Terminal"]

_READ: Final = 4096
_MAX_LINE: Final = 64 * 1024
_INTERRUPTIONS: Final = (
    asyncssh.TerminalSizeChanged,
    asyncssh.BreakReceived,
    asyncssh.SignalReceived,
)


class Terminal:
    """Reads what the client types (lines end in CR, LF or CRLF) and writes the device's output.

    Everything written goes out with CRLF line ends, as a router's console sends them (LF for
    a Linux host, with ``newline``).
    Writes wait for the channel's window (``drain``), so a slow reader holds the writer back
    instead of letting output pile up in memory.
    """

    def __init__(
        self, process: asyncssh.SSHServerProcess[bytes], *, newline: bytes = b"\r\n"
    ) -> None:
        self._process = process
        self._newline = newline
        self._buffer = bytearray()
        self._after_cr = False
        self._eof = False

    async def _fill(self) -> bool:
        """Read more input; False at end of input."""
        while not self._eof:
            try:
                chunk = await self._process.stdin.read(_READ)
            except _INTERRUPTIONS:
                continue
            if not chunk:
                self._eof = True
                break
            if self._after_cr and chunk.startswith(b"\n"):
                chunk = chunk[1:]
            self._after_cr = chunk.endswith(b"\r")
            self._buffer += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            return True
        return False

    async def readline(self) -> bytes | None:
        """The next typed line without its end, or None at end of input.

        A line longer than 64 KiB is cut there: a client typing without end does not grow the
        device's memory.
        """
        while b"\n" not in self._buffer:
            if len(self._buffer) >= _MAX_LINE:
                line = bytes(self._buffer[:_MAX_LINE])
                del self._buffer[:_MAX_LINE]
                return line
            if not await self._fill():
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                return None
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        return line

    async def readkey(self) -> bytes | None:
        """One key (Enter reads as a line feed), or None at end of input."""
        if not self._buffer and not await self._fill():
            return None
        key = bytes(self._buffer[:1])
        del self._buffer[:1]
        return key

    async def write(self, data: bytes | str) -> None:
        """Write with CRLF line ends, then wait for the window."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self._process.stdout.write(raw.replace(b"\r\n", b"\n").replace(b"\n", self._newline))
        await self._process.stdout.drain()

    async def write_raw(self, data: bytes) -> None:
        """Write bytes as they are, then wait for the window."""
        self._process.stdout.write(data)
        await self._process.stdout.drain()

    async def drip(self, data: bytes, bytes_per_second: float) -> None:
        """Write ``data`` (CRLF) a few bytes at a time, ``bytes_per_second`` on average."""
        raw = data.replace(b"\r\n", b"\n").replace(b"\n", self._newline)
        piece = max(1, int(bytes_per_second / 20))
        for start in range(0, len(raw), piece):
            await self.write_raw(raw[start : start + piece])
            await asyncio.sleep(piece / bytes_per_second)
