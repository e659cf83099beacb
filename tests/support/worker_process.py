"""A service as a real process (``python -m vigie_<service> run``): kills, restarts, its output.

Each process gets the environment a deployment sets (``VIGIE_*`` variables only, none
inherited from the tester's shell), its own port, and its stdout and stderr in files of the
test's folder. The lab and the sinks run in the test's event loop, so nothing here blocks
that loop: a process is waited for in a thread.

::

    async with worker_processes("notifier", environment, tmp_path) as workers:
        a = workers.launch("a")                # spawned; a.wait_ready() for /readyz 200
        ...
        await a.kill()                         # SIGKILL: no clean stop, leases left behind
        b = await workers.start("b")

Every process still running when the block ends is stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.kafka.tansu import free_port

__all__ = [
    "Environment",
    "WorkerProcess",
    "Workers",
    "base_environment",
    "metric_value",
    "worker_processes",
]

READY_WITHIN = 60.0
STOP_WITHIN = 30.0

Environment = Callable[[int, Mapping[str, str]], dict[str, str]]
"""The process's variables, given its port and the test's additions."""


def base_environment(db_url: str, bootstrap: str) -> dict[str, str]:
    """The tester's environment without its ``VIGIE_*``, and what every service needs."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    values.update(
        {
            "VIGIE_ENV": "test",
            "VIGIE_DATABASE_URL": db_url,
            "VIGIE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "VIGIE_KAFKA_IDEMPOTENCE": "false",
            "VIGIE_KAFKA_REQUEST_TIMEOUT_MS": "15000",
            # Kept from the tester's environment: a consumer joins its group in 1.5 s.
            "VIGIE_KAFKA_SESSION_TIMEOUT_MS": os.environ.get(
                "VIGIE_KAFKA_SESSION_TIMEOUT_MS", "3000"
            ),
            "VIGIE_LOG_FORMAT": "json",
            "VIGIE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return values


@dataclass
class WorkerProcess:
    """One ``vigie-<service> run`` process: its port, its output files and the process."""

    service: str
    name: str
    port: int
    stdout_file: Path
    stderr_file: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=5, trust_env=False) as client:
            return await client.get(path, params=params)

    async def json(self, path: str, **params: Any) -> Any:
        """The read API's JSON answer (200 required)."""
        answer = await self.get(path, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def metric(self, name: str, **labels: str) -> float:
        """The samples ``name`` with ``labels`` on ``/metrics``, summed (0 when absent)."""
        answer = await self.get("/metrics")
        assert answer.status_code == 200, answer.text
        return metric_value(answer.text, name, **labels)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.service} {self.name} exited with {self.process.returncode}: {self.tail()}"
            )

    def output(self) -> bytes:
        """Everything the process wrote, stdout then stderr."""
        return self.stdout_file.read_bytes() + self.stderr_file.read_bytes()

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines of stdout and stderr (anything else, a traceback, is left out)."""
        found: list[dict[str, Any]] = []
        for line in self.output().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def events(self, event: str) -> list[dict[str, Any]]:
        """The log lines whose message is ``event`` (``notification sent``…)."""
        return [r for r in self.logs() if r.get("event") == event]

    def tail(self, size: int = 3000) -> str:
        data = self.stdout_file.read_bytes()[-size:] + self.stderr_file.read_bytes()[-size:]
        return data.decode("utf-8", "replace")

    async def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost node does; waits for the process to be gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, STOP_WITHIN)
            except subprocess.TimeoutExpired:
                self.process.kill()
        await asyncio.to_thread(self.process.wait)

    async def wait_api(self, within: float = READY_WITHIN) -> None:
        """Until the read API answers (``/healthz``): the background tasks run by then."""
        await self._wait("/healthz", within)

    async def wait_ready(self, within: float = READY_WITHIN) -> None:
        """Until ``/readyz`` answers 200: database reachable and the consumer group joined."""
        await self._wait("/readyz", within)

    async def _wait(self, path: str, within: float) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    if (await client.get(path)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"{self.service} {self.name}: {path} not 200 in {within} s: {self.tail()}"
        )


P = TypeVar("P", bound=WorkerProcess)


class Workers(Generic[P]):
    """Starts processes of one service; stops them all at the end."""

    def __init__(
        self,
        service: str,
        environment: Environment,
        *,
        log_dir: Path,
        kind: type[P],
        env: Mapping[str, str] | None = None,
        command: str = "run",
    ) -> None:
        self.service = service
        self.command = command
        self.environment = environment
        self.log_dir = log_dir
        self.kind = kind
        self.env = dict(env or {})
        self.started: list[P] = []

    def launch(self, name: str, *, port: int | None = None, **env: str) -> P:
        """Spawn ``vigie-<service> run``; returns at once (see ``WorkerProcess.wait_ready``).

        ``port``: where it listens (a restart on the same address); a free one by default.
        """
        port = port or free_port()
        environment = self.environment(port, {**self.env, **env})
        stdout_file = self.log_dir / f"{self.service}-{name}.out"
        stderr_file = self.log_dir / f"{self.service}-{name}.err"
        with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", f"vigie_{self.service}", self.command],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,  # a Ctrl-C on the test run is ours to pass on
            )
        running = self.kind(self.service, name, port, stdout_file, stderr_file, process)
        self.started.append(running)
        return running

    async def start(self, name: str, *, port: int | None = None, **env: str) -> P:
        """Spawn a process and return once its ``/readyz`` answers 200."""
        running = self.launch(name, port=port, **env)
        await running.wait_ready()
        return running

    async def close(self) -> None:
        """Stop every process still running, all at once; wait for each."""
        await asyncio.gather(*(p.stop() for p in self.started), return_exceptions=True)
        for running in self.started:  # whatever happened above, none is left behind
            if running.process.poll() is None:
                running.process.kill()
                await asyncio.to_thread(running.process.wait)


@asynccontextmanager
async def worker_processes(workers: Workers[P]) -> AsyncIterator[Workers[P]]:
    """``workers``, every process stopped when the block ends."""
    try:
        yield workers
    finally:
        await workers.close()


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The samples ``name`` whose labels include ``labels`` in a Prometheus text page, summed.

    0 when there is none; labels left unsaid match every value.
    """
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
