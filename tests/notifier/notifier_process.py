"""The notifier as a real process (``python -m vigie_notifier run``): kills, restarts, its output.

Each process gets the environment a deployment sets (``VIGIE_*`` variables only, none
inherited from the tester's shell), its own port, and its stdout and stderr in files of the
test's folder. The SMTP sink runs in the test's event loop, so nothing here blocks that loop:
a process is waited for in a thread.

::

    async with notifier_processes(db_url, bootstrap, tmp_path, env=TIMING) as notifiers:
        a = notifiers.launch("a")              # spawned; a.wait_ready() for /readyz 200
        ...
        await a.kill()                         # SIGKILL: no clean stop, leases left behind
        b = await notifiers.start("b")

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
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.kafka.tansu import free_port

__all__ = [
    "NotifierProcess",
    "Notifiers",
    "metric_value",
    "notifier_environment",
    "notifier_processes",
]

READY_WITHIN = 60.0
STOP_WITHIN = 30.0


def notifier_environment(
    db_url: str, bootstrap: str, *, port: int, env: Mapping[str, str]
) -> dict[str, str]:
    """What a deployment sets, for a test deployment; ``env`` overrides or adds variables.

    The SMTP relay (``VIGIE_NOTIFIER_SMTP__PORT``…), the contacts file and the timings are
    the test's to give in ``env``.
    """
    values = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    values.update(
        {
            "VIGIE_ENV": "test",
            "VIGIE_DATABASE_URL": db_url,
            "VIGIE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "VIGIE_KAFKA_IDEMPOTENCE": "false",
            "VIGIE_KAFKA_REQUEST_TIMEOUT_MS": "15000",
            "VIGIE_LOG_FORMAT": "json",
            "VIGIE_LOG_LEVEL": "INFO",
            "VIGIE_NOTIFIER_PORT": str(port),
            "VIGIE_NOTIFIER_OPERATOR": "ORANGE",
            "VIGIE_NOTIFIER_MESSAGE_DOMAIN": "vigie.test",
            "VIGIE_NOTIFIER_SMTP__HOST": "127.0.0.1",
            "VIGIE_NOTIFIER_SMTP__SECURITY": "none",
            "VIGIE_NOTIFIER_SMTP__FROM_ADDRESS": "sav@vigie.test",
            "VIGIE_NOTIFIER_SEND_POLL_INTERVAL_S": "0.1",
            "VIGIE_NOTIFIER_RETRY_BACKOFF_S": "0.2",
            "VIGIE_NOTIFIER_MAX_RETRY_BACKOFF_S": "1.0",
            "VIGIE_NOTIFIER_WATCH_INTERVAL_S": "0.2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    values.update(env)
    return values


@dataclass
class NotifierProcess:
    """One ``vigie-notifier run`` process: its port, its output files and the process."""

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
        """The sample ``name`` with ``labels`` on the process's ``/metrics`` (0 when absent)."""
        answer = await self.get("/metrics")
        assert answer.status_code == 200, answer.text
        return metric_value(answer.text, name, **labels)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"notifier {self.name} exited with {self.process.returncode}: {self.tail()}"
            )

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines of stdout and stderr (anything else, a traceback, is left out)."""
        found: list[dict[str, Any]] = []
        for path in (self.stdout_file, self.stderr_file):
            for line in path.read_bytes().splitlines():
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
        """Until the read API answers (``/healthz``): the sender runs by then."""
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
        raise AssertionError(f"notifier {self.name}: {path} not 200 in {within} s: {self.tail()}")


class Notifiers:
    """Starts notifier processes on one database and broker; stops them all at the end."""

    def __init__(
        self, db_url: str, bootstrap: str, *, log_dir: Path, env: Mapping[str, str]
    ) -> None:
        self.db_url = db_url
        self.bootstrap = bootstrap
        self.log_dir = log_dir
        self.env = env
        self.started: list[NotifierProcess] = []

    def launch(self, name: str, **env: str) -> NotifierProcess:
        """Spawn ``vigie-notifier run``; returns at once (see ``NotifierProcess.wait_ready``)."""
        port = free_port()
        environment = notifier_environment(
            self.db_url, self.bootstrap, port=port, env={**self.env, **env}
        )
        stdout_file = self.log_dir / f"notifier-{name}.out"
        stderr_file = self.log_dir / f"notifier-{name}.err"
        with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "vigie_notifier", "run"],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,  # a Ctrl-C on the test run is ours to pass on
            )
        running = NotifierProcess(name, port, stdout_file, stderr_file, process)
        self.started.append(running)
        return running

    async def start(self, name: str, **env: str) -> NotifierProcess:
        """Spawn a notifier and return once its ``/readyz`` answers 200."""
        running = self.launch(name, **env)
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
async def notifier_processes(
    db_url: str, bootstrap: str, log_dir: Path, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[Notifiers]:
    """Notifier processes on ``db_url`` and ``bootstrap``, stopped when the block ends."""
    notifiers = Notifiers(db_url, bootstrap, log_dir=log_dir, env=env or {})
    try:
        yield notifiers
    finally:
        await notifiers.close()


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` in a Prometheus text page; 0 if none.

    Several matching samples (labels left unsaid) are summed.
    """
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
