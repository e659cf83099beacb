"""The prober as a real process (``python -m vigie_prober run``): replicas, kills, its output.

Each process gets the environment a deployment sets (``VIGIE_*`` variables only, none
inherited from the tester's shell), its own port, and its stdout and stderr in files of the
test's folder. The lab runs in the test's event loop, so nothing here blocks that loop: a
process is waited for in a thread.

::

    async with prober_processes(db_url, bootstrap, lab, tmp_path, env=TIMING) as probers:
        a = await probers.start("a")          # launched, then /readyz answered 200
        ...
        await a.kill()                        # SIGKILL: no clean stop, leases left behind
        b = await probers.start("b")

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
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import inspect, text
from vigie_common.db.engine import make_engine
from vigie_common.kafka.tansu import free_port
from vigie_lab import Lab

from tests.prober.ssh_lab import CREDENTIALS

__all__ = [
    "ProberProcess",
    "Probers",
    "all_records",
    "dump_tables",
    "metric_total",
    "prober_environment",
    "prober_processes",
]

READY_WITHIN = 60.0
STOP_WITHIN = 30.0


def prober_environment(
    db_url: str,
    bootstrap: str,
    *,
    port: int,
    known_hosts_folder: Path,
    credentials: Mapping[str, str],
    env: Mapping[str, str],
) -> dict[str, str]:
    """What a deployment sets, for a test deployment; ``env`` overrides or adds variables."""
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
            "VIGIE_PROBER_PORT": str(port),
            "VIGIE_PROBER_POLL_INTERVAL_S": "0.2",
            "VIGIE_PROBER_SSH__KNOWN_HOSTS_FOLDER": str(known_hosts_folder),
            "VIGIE_PROBER_SSH__CONNECT_TIMEOUT": "5",
            "VIGIE_PROBER_SSH__COMMAND_TIMEOUT": "5",
            "VIGIE_PROBER_PING_COUNT": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    values.update(credentials)
    values.update(env)
    return values


@dataclass
class ProberProcess:
    """One ``vigie-prober run`` process: its port, its output files and the process."""

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

    async def plan(self, ticket_id: str) -> dict[str, Any] | None:
        """The read API's answer for the ticket (its latest verdict and plan); None on 404."""
        answer = await self.get(f"/v1/tickets/{ticket_id}/verdict")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def wait_plan(
        self, ticket_id: str, *, within: float, done: bool = True, rounds: int = 1
    ) -> dict[str, Any]:
        """The read API's answer once ``rounds`` are done and (``done``) nothing more is due."""
        deadline = time.monotonic() + within
        found: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            found = await self.plan(ticket_id)
            if found is not None:
                plan = found["plan"]
                finished = plan["next_probe_at"] is None and not plan["probing_now"]
                if plan["rounds_done"] >= rounds and (finished or not done):
                    return found
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name}: {ticket_id} not done in {within} s: {found}")

    async def metric(self, name: str) -> float:
        """The sum of every sample named ``name`` on the process's ``/metrics``."""
        answer = await self.get("/metrics")
        assert answer.status_code == 200, answer.text
        return metric_total(answer.text, name)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"prober {self.name} exited with {self.process.returncode}: {self.tail()}"
            )

    def output(self) -> bytes:
        """Everything the process wrote, stdout then stderr."""
        return self.stdout_file.read_bytes() + self.stderr_file.read_bytes()

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines of stderr (anything else, a traceback, is left out)."""
        found: list[dict[str, Any]] = []
        for line in self.stderr_file.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def events(self, event: str) -> list[dict[str, Any]]:
        """The log lines whose message is ``event`` (``verdict reached``…)."""
        return [r for r in self.logs() if r.get("event") == event]

    def tail(self, size: int = 3000) -> str:
        return self.stderr_file.read_bytes()[-size:].decode("utf-8", "replace")

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

    async def wait_ready(self, within: float = READY_WITHIN) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"prober {self.name} not ready in {within} s: {self.tail()}")


class Probers:
    """Starts prober processes on one database, broker and lab; stops them all at the end."""

    def __init__(
        self,
        db_url: str,
        bootstrap: str,
        *,
        known_hosts_folder: Path,
        log_dir: Path,
        credentials: Mapping[str, str],
        env: Mapping[str, str],
    ) -> None:
        self.db_url = db_url
        self.bootstrap = bootstrap
        self.known_hosts_folder = known_hosts_folder
        self.log_dir = log_dir
        self.credentials = credentials
        self.env = env
        self.started: list[ProberProcess] = []

    def launch(self, name: str, **env: str) -> ProberProcess:
        """Spawn ``vigie-prober run`` (returns at once; see :meth:`ProberProcess.wait_ready`)."""
        port = free_port()
        environment = prober_environment(
            self.db_url,
            self.bootstrap,
            port=port,
            known_hosts_folder=self.known_hosts_folder,
            credentials=self.credentials,
            env={**self.env, **env},
        )
        stdout_file = self.log_dir / f"prober-{name}.out"
        stderr_file = self.log_dir / f"prober-{name}.err"
        with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "vigie_prober", "run"],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,  # a Ctrl-C on the test run is ours to pass on
            )
        running = ProberProcess(name, port, stdout_file, stderr_file, process)
        self.started.append(running)
        return running

    async def start(self, name: str, **env: str) -> ProberProcess:
        """Spawn a prober and return once its ``/readyz`` answers 200."""
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
async def prober_processes(
    db_url: str,
    bootstrap: str,
    lab: Lab,
    log_dir: Path,
    *,
    credentials: Mapping[str, str] = CREDENTIALS,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Probers]:
    """Prober processes against ``lab`` (its known_hosts), stopped when the block ends."""
    probers = Probers(
        db_url,
        bootstrap,
        known_hosts_folder=lab.data_dir,
        log_dir=log_dir,
        credentials=credentials,
        env=env or {},
    )
    try:
        yield probers
    finally:
        await probers.close()


def metric_total(exposition: str, name: str) -> float:
    """The sum of the samples named ``name`` (every label set) in a Prometheus text page."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    )


async def all_records(bootstrap: str, topics: list[str], *, quiet: float = 1.5) -> list[Any]:
    """Every record of ``topics`` from the beginning, once nothing new came for ``quiet`` s."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + 30.0
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                if records:
                    found.extend(records)
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return found


async def dump_tables(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the database, by table."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            return {
                name: [tuple(row) for row in await conn.execute(text(f'SELECT * FROM "{name}"'))]
                for name in names
            }
    finally:
        await engine.dispose()
