"""Ingest as a real process (``python -m vigie_ingest serve``): replicas, soaks, RSS and logs."""

from __future__ import annotations

import asyncio
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
from vigie_common.kafka.tansu import free_port

from tests.support.builders import SECRETS, TOKENS

READ_TOKEN = "read-token-0123456789abcdef"


@dataclass
class IngestProcess:
    """One running ingest server: its port, its log file and its process."""

    port: int
    log_file: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """Resident memory now (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def log_lines(self) -> list[bytes]:
        return self.log_file.read_bytes().splitlines()


def ingest_environment(db_url: str, bootstrap: str, port: int, **extra: str) -> dict[str, str]:
    """What a deployment sets, for a test deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        {
            "VIGIE_ENV": "test",
            "VIGIE_DATABASE_URL": db_url,
            "VIGIE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "VIGIE_KAFKA_IDEMPOTENCE": "false",
            "VIGIE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
            "VIGIE_INGEST_PORT": str(port),
            "VIGIE_INGEST_WEBHOOK_SECRETS": SECRETS,
            "VIGIE_INGEST_BEARER_TOKENS": TOKENS,
            "VIGIE_READ_TOKEN": READ_TOKEN,
            "VIGIE_INGEST_OUTBOX_POLL_INTERVAL_S": "0.2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@asynccontextmanager
async def ingest_process(
    db_url: str, bootstrap: str, log_dir: Path, *, name: str = "ingest", **extra: str
) -> AsyncIterator[IngestProcess]:
    """Start ingest, wait until ``/readyz`` answers 200 (broker or not), stop it after."""
    port = free_port()
    log_file = log_dir / f"{name}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, "-m", "vigie_ingest", "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ingest_environment(db_url, bootstrap, port, **extra),
            start_new_session=True,
        )
    running = IngestProcess(port, log_file, process)
    try:
        await _wait_ready(running)
        yield running
    finally:
        _stop(process)


async def _wait_ready(running: IngestProcess, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=running.url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                raise RuntimeError(f"ingest exited: {running.log_file.read_text()[-3000:]}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"ingest not ready: {running.log_file.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_headers() -> Mapping[str, Any]:
    """Authorization for the GET endpoints of a process started here."""
    return {"authorization": f"Bearer {READ_TOKEN}"}
