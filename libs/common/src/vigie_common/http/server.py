"""A worker's HTTP server: uvicorn inside the worker's event loop, on a socket bound up front.

Binding first makes a taken port an ``OSError`` that names it, at start-up, instead of
uvicorn's ``sys.exit`` from inside a task. The server installs no signal handlers: the worker
owns SIGTERM/SIGINT and stops the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from vigie_common.logs import get_logger

__all__ = ["ApiServer"]

log = get_logger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the process's signal handlers alone: they belong to the worker."""
        yield


class ApiServer:
    """Serves ``app`` on ``host:port`` (``port=0``: any free one, see :attr:`port`)."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, grace: float = 5.0) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the worker's structlog setup stays in charge
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=int(grace),
        )
        self._server = _Server(self._config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._grace = grace

    @property
    def port(self) -> int:
        """The port listened on (meaningful once started)."""
        if self._socket is None:
            return self._config.port
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Bind, then serve in the background.

        Raises:
            OSError: the address is taken or not ours; the message names it.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._config.host, self._config.port))
            sock.listen(self._config.backlog)
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"cannot listen on {self._config.host}:{self._config.port}: {exc}"
            ) from exc
        sock.setblocking(False)
        self._socket = sock
        # Listening already: connections queue in the backlog until uvicorn accepts them.
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="vigie-api")
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (bounded), release the port."""
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self._grace + 1)
            except TimeoutError:
                self._server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._socket is not None:
            self._socket.close()
            self._socket = None
