"""Ingest running in-process on its real lifespan (engine, producer, relay), and a Kafka reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from vigie_common.clock import Clock
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
