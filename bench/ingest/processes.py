"""Child processes of the benchmark (servers, migrations), always terminated.

Each child gets its own session so a Ctrl-C in the terminal reaches the harness only; the
harness then stops the children itself, in ``finally`` blocks, and waits for them, so a run
never leaves a server listening behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

HOST = "127.0.0.1"


class ProcessError(RuntimeError):
    """A child failed to start, to become ready, or to finish; the message points at its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time a process used so far (Linux ``/proc``), None if unknown.

    Sampled around the load phase, it tells whether the server was CPU-bound (close to one
    core: its own Python work is the limit) or waiting on something else (the database).
    """
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _cpu_jiffies() -> tuple[int, int] | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]), idle


async def busy_cores(interval_s: float = 1.0) -> float | None:
    """How many cores the machine keeps busy over ``interval_s`` (Linux), None if unknown.

    Sampled just before a load phase, while the benchmark's own processes are idle, it shows
    how much other work (other people's tests and services) competes for the CPUs.
    """
    before = _cpu_jiffies()
    await asyncio.sleep(interval_s)
    after = _cpu_jiffies()
    if before is None or after is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total, idle = after[0] - before[0], after[1] - before[1]
    return (total - idle) / ticks / interval_s


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


async def run_to_completion(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
    cwd: Path | None = None,
) -> None:
    """Run a command (e.g. migrations) to its end; raise on failure or after ``timeout_s``."""
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = await asyncio.wait_for(process.wait(), timeout=timeout_s)
        except TimeoutError as exc:
            raise ProcessError(f"{' '.join(argv)} did not finish within {timeout_s}s") from exc
        finally:
            await _stop(process, grace_s=5)
    if code != 0:
        raise ProcessError(
            f"{' '.join(argv)} exited with code {code}; log {log_path}:\n{tail(log_path)}"
        )


class Server:
    """An HTTP server in a child process on 127.0.0.1:``port``, ready once ``ready_path`` is 200."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_path: str = "/readyz",
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.log_path = log_path
        self.env = dict(env if env is not None else os.environ)
        self.cwd = cwd
        self.ready_path = ready_path
        self.ready_timeout_s = ready_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process else None

    async def start(self) -> Self:
        """Launch the child and return once it answers 200 on ``ready_path``."""
        self._log = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise ProcessError(
                        f"{self.name} exited with code {self._process.returncode} before being"
                        f" ready; log {self.log_path}:\n{tail(self.log_path)}"
                    )
                try:
                    response = await client.get(self.base_url + self.ready_path)
                except httpx.HTTPError as exc:
                    last = repr(exc)
                else:
                    if response.status_code == 200:
                        return self
                    last = f"{response.status_code} {response.text[:200]}"
                await asyncio.sleep(0.1)
        raise ProcessError(
            f"{self.name} was not ready within {self.ready_timeout_s}s ({last});"
            f" log {self.log_path}:\n{tail(self.log_path)}"
        )

    async def stop(self) -> None:
        """Terminate the child (its whole process group) and wait for it."""
        process, self._process = self._process, None
        if process is not None:
            await _stop(process, grace_s=10)
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


async def _stop(process: asyncio.subprocess.Process, *, grace_s: float) -> None:
    """SIGTERM the child's process group, then SIGKILL it after ``grace_s``."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), timeout=grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
