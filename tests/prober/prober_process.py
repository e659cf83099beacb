"""The prober as a real process (``python -m vigie_prober run``): replicas, kills, its output.

See :mod:`tests.support.worker_process` for what every service process gets.

::

    async with prober_processes(db_url, bootstrap, lab, tmp_path, env=TIMING) as probers:
        a = await probers.start("a")          # launched, then /readyz answered 200
        ...
        await a.kill()                        # SIGKILL: no clean stop, leases left behind
        b = await probers.start("b")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import inspect, text
from vigie_common.db.engine import make_engine
from vigie_lab import Lab

from tests.prober.ssh_lab import CREDENTIALS
from tests.support.worker_process import (
    WorkerProcess,
    Workers,
    base_environment,
    metric_value,
    worker_processes,
)

__all__ = [
    "ProberProcess",
    "Probers",
    "all_records",
    "dump_tables",
    "metric_total",
    "prober_environment",
    "prober_processes",
]


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
    values = base_environment(db_url, bootstrap)
    values.update(
        {
            "VIGIE_PROBER_PORT": str(port),
            "VIGIE_PROBER_POLL_INTERVAL_S": "0.2",
            "VIGIE_PROBER_SSH__KNOWN_HOSTS_FOLDER": str(known_hosts_folder),
            "VIGIE_PROBER_SSH__CONNECT_TIMEOUT": "5",
            "VIGIE_PROBER_SSH__COMMAND_TIMEOUT": "5",
            "VIGIE_PROBER_PING_COUNT": "2",
        }
    )
    values.update(credentials)
    values.update(env)
    return values


class ProberProcess(WorkerProcess):
    """One ``vigie-prober run`` process, with its read API's plans."""

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


Probers = Workers[ProberProcess]


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

    def environment(port: int, extra: Mapping[str, str]) -> dict[str, str]:
        return prober_environment(
            db_url,
            bootstrap,
            port=port,
            known_hosts_folder=lab.data_dir,
            credentials=credentials,
            env=extra,
        )

    workers = Workers("prober", environment, log_dir=log_dir, kind=ProberProcess, env=env)
    async with worker_processes(workers) as started:
        yield started


def metric_total(exposition: str, name: str) -> float:
    """The sum of the samples named ``name`` (every label set) in a Prometheus text page."""
    return metric_value(exposition, name)


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
