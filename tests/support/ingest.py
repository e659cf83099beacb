"""Ingest running in-process on its real lifespan (engine, producer, relay), and a Kafka reader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from vigie_common.clock import Clock
from vigie_common.events.topics import TICKETS
from vigie_ingest.main import create_app, migrate
from vigie_ingest.settings import IngestSettings

from tests.support.builders import SECRETS, TOKENS
from tests.support.database import DatabaseFactory


def ingest_settings(db_url: str, bootstrap: str, **overrides: Any) -> IngestSettings:
    """Settings as a test deployment would have them."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": db_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_idempotence": False,
        "kafka_request_timeout_ms": 30_000,
        "webhook_secrets": SECRETS,
        "bearer_tokens": TOKENS,
        "outbox_poll_interval_s": 0.2,
    }
    values.update(overrides)
    return IngestSettings(**values)


def ingest_db(factory: DatabaseFactory) -> str:
    """A fresh, migrated ingest database."""
    return factory.create("ingest", lambda url: migrate(ingest_settings(url, "unused:9092")))


@asynccontextmanager
async def running_ingest(
    settings: IngestSettings, *, clock: Clock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to ingest through its ASGI interface, lifespan started and stopped."""
    app = create_app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client


async def read_events(
    bootstrap: str,
    *,
    subjects: set[str],
    expect: int,
    topic: str = TICKETS,
    wait_s: float = 60.0,
    grace: float = 1.0,
) -> list[Any]:
    """Records of ``topic`` about ``subjects``: waits for ``expect``, then a grace for extras."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + wait_s
        settled: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if r.key and r.key.decode() in subjects)
            if len(found) >= expect:
                settled = settled or time.monotonic()
                if time.monotonic() - settled >= grace:
                    break
    finally:
        await consumer.stop()
    return found


async def wait_for(predicate: Any, *, wait_s: float = 30.0, every: float = 0.1) -> None:
    """Poll an async predicate until it is true (bounded)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")
