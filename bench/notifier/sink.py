"""The harness's side of the sink process (:mod:`bench.notifier.sink_process`).

The sink runs in its own session (process group) with its stdin and stdout as pipes: the
harness reads its port from the first line, asks for what it received with ``report``, and
stops it (``quit``, then SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from bench.ingest.processes import ProcessError, tail

READY_TIMEOUT_S = 30.0
REPORT_LIMIT = 1 << 26  # a report is one JSON line: 64 MiB covers a million records


@dataclass(frozen=True, slots=True)
class Received:
    """One message the sink accepted: when (wall clock), its Message-ID and its size."""

    at: float
    message_id: str
    size: int


class SinkProcess:
    """``python -m bench.notifier.sink_process FOLDER --store STORE`` until stopped."""

    def __init__(self, folder: Path, *, store: str, log_path: Path) -> None:
        self.folder = folder
        self.store = store
        self.log_path = log_path
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The sink's process id while it runs."""
        return self._process.pid if self._process else None

    async def start(self) -> Self:
        """Launch the sink; return once it printed the port it listens on.

        Raises:
            ProcessError: It exited or said nothing in time.
        """
        self._log = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.notifier.sink_process",
            str(self.folder),
            "--store",
            self.store,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            limit=REPORT_LIMIT,
        )
        line = await self._line(READY_TIMEOUT_S)
        words = line.split()
        if len(words) != 2 or words[0] != "ready":
            raise ProcessError(f"the sink said {line!r}; log {self.log_path}")
        self.port = int(words[1])
        return self

    async def _line(self, timeout_s: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        try:
            raw = await asyncio.wait_for(self._process.stdout.readline(), timeout=timeout_s)
        except TimeoutError:
            raise ProcessError(f"the sink did not answer in {timeout_s:g} s") from None
        if not raw:
            code = await self._process.wait()
            raise ProcessError(
                f"the sink exited with code {code}; log {self.log_path}:\n{tail(self.log_path)}"
            )
        return raw.decode(errors="replace").strip()

    async def report(self) -> list[Received]:
        """What the sink accepted since the last report (then it forgets it)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"report\n")
        await self._process.stdin.drain()
        records = json.loads(await self._line(60.0))["records"]
        return [Received(float(at), str(mid), int(size)) for at, mid, size in records]

    async def stop(self) -> None:
        """``quit``; SIGTERM its group after 5 s, SIGKILL after 5 more."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.write(b"quit\n")
                    process.stdin.close()
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), timeout=5)
            except TimeoutError:
                await _terminate(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Self:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _terminate(process: asyncio.subprocess.Process) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=5)
        if process.returncode is not None:
            return
