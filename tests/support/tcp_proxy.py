"""A TCP proxy a test controls: put it between a service and PostgreSQL, then cut and restore.

``cut()`` closes the listening socket (new connections are refused, as by a server that went
away) and aborts every connection in flight (both ends see a reset, as when a node dies).
``restore()`` listens again on the same port, so the service's URL stays valid.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from vigie_common.kafka.tansu import free_port


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; the test cuts and restores it."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None):
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    async def start(self) -> None:
        """Listen (again) on the proxy's port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.cancel()
        if pipes:
            await asyncio.wait(pipes, timeout=5)
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        """Accept connections again."""
        await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            self._forget(task, writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except asyncio.CancelledError:
            pass  # cut(): the transports are already aborted
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)
            self._forget(task, writer)

    def _forget(self, task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
        self._pipes.discard(task)
        self._writers.discard(writer)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF or a reset; then half-close the other side."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


@asynccontextmanager
async def proxied(upstream_host: str, upstream_port: int) -> AsyncIterator[TcpProxy]:
    """A started proxy, cut (all connections closed) when the block ends."""
    proxy = TcpProxy(upstream_host, upstream_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()
