"""The lab in a process of its own: ``python -m vigie_lab run --fleet N``, stopped whatever happens.

The lab is one asyncio process serving every router and the jump host; the contenders run in
other processes, so the lab's CPU is its own and can be measured apart (``cpu_seconds``).
It gets its passwords in the environment, like the contenders, and writes the inventory and
known_hosts into the bench's folder. Its own session (process group) keeps a Ctrl-C in the
terminal for the harness, which stops it in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from bench.ingest.processes import ProcessError, tail

READY = "ready"
INVENTORY = "inventory"


class LabProcess:
    """``vigie-lab run --fleet N --data-dir DIR`` until stopped; ready once it printed ``ready``."""

    def __init__(
        self,
        *,
        routers: int,
        data_dir: Path,
        log_path: Path,
        env: Mapping[str, str],
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.routers = routers
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = dict(env)
        self.ready_timeout_s = ready_timeout_s
        self.inventory: Path | None = None
        self.started_in_s: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The lab's process id while it runs."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Whether the lab has not exited."""
        return self._process is not None and self._process.returncode is None

    def argv(self) -> list[str]:
        """The lab's command line."""
        return [
            sys.executable,
            "-m",
            "vigie_lab",
            "run",
            "--fleet",
            str(self.routers),
            "--data-dir",
            str(self.data_dir),
        ]

    async def start(self) -> Self:
        """Launch the lab; return once it printed ``ready`` and where its inventory is.

        Raises:
            ProcessError: It exited, or was not ready in time.
        """
        started = time.monotonic()
        self._log = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            *self.argv(),
            env=self.env,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise ProcessError(
                    f"the lab exited with code {self._process.returncode} before being ready;"
                    f" log {self.log_path}:\n{tail(self.log_path)}"
                )
            lines = self.log_path.read_text(errors="replace").splitlines()
            if any(line.startswith(READY) for line in lines):
                self.inventory = _inventory_path(lines)
                self.started_in_s = time.monotonic() - started
                return self
            await asyncio.sleep(0.1)
        raise ProcessError(
            f"the lab was not ready within {self.ready_timeout_s:.0f} s;"
            f" log {self.log_path}:\n{tail(self.log_path)}"
        )

    async def stop(self) -> None:
        """SIGTERM the lab's process group (it closes every connection), SIGKILL after 10 s."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), timeout=10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
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


def _inventory_path(lines: list[str]) -> Path:
    """The inventory path the lab printed (``  inventory   /path``)."""
    for line in lines:
        words = line.split(maxsplit=1)
        if len(words) == 2 and words[0] == INVENTORY:
            return Path(words[1].strip())
    raise ProcessError("the lab printed no inventory path")
