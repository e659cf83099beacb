"""Test-only tables built the way a service builds its own, and the outbox tests' helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.clock import FrozenClock
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin, OutboxRelay, RelayMetrics
from vigie_common.kafka.records import Publisher

from tests.support.database import DatabaseFactory

SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}
METRICS_PREFIX = "vigie_test"


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    __tablename__ = "outbox_event"


class OtherOutboxEvent(OutboxMixin, Base):
    """Another service's outbox in the same database (per-service relay locks)."""

    __tablename__ = "other_outbox_event"


class Seen(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Stamp(Base):
    __tablename__ = "stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    maybe: Mapped[datetime | None]


def sync_url(async_url: str) -> str:
    """The same database through a blocking driver."""
    url = make_url(async_url)
    return url.set(drivername=SYNC_DRIVERS[url.drivername]).render_as_string(hide_password=False)


def create_tables(async_url: str) -> None:
    """``factory.create``'s migrate callable: the test tables, created synchronously."""
    engine = create_engine(sync_url(async_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def common_db(factory: DatabaseFactory) -> str:
    """A fresh database holding the test tables; returns its async URL."""
    return factory.create("common", create_tables)


async def add_events(
    sessions: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    keys: Sequence[str],
    topic: str = "vigie.test.v1",
    *,
    model: type[OutboxMixin] = OutboxEvent,
    sizes: dict[str, int] | None = None,
) -> list[bytes]:
    """One committed outbox row per key, in order (``seq`` follows); returns the values.

    ``sizes`` pads the value of the named keys to that many bytes.
    """
    values = [f"{key}#{uuid.uuid4().hex}".encode() for key in keys]
    values = [v.ljust((sizes or {}).get(k, 0), b".") for k, v in zip(keys, values, strict=True)]
    async with transaction(sessions) as session:
        for key, value in zip(keys, values, strict=True):
            row = model()
            row.event_id, row.topic, row.key, row.value = str(uuid.uuid4()), topic, key, value
            row.content_type, row.created_at = "application/cloudevents+json", clock.now()
            session.add(row)
            await session.flush()  # seq in insertion order
    return values


async def outbox_rows(
    sessions: async_sessionmaker[AsyncSession], model: type[OutboxMixin] = OutboxEvent
) -> list[Any]:
    """Every row of ``model``'s table, in ``seq`` order."""
    async with sessions() as session:
        return list(await session.scalars(select(model).order_by(model.seq)))


@dataclass
class Relays:
    """Makes a test's relays and closes them before the engines go (each may hold its lock)."""

    sessions: async_sessionmaker[AsyncSession]
    url: str
    made: list[OutboxRelay] = field(default_factory=list)

    def make(
        self,
        publisher: Publisher,
        clock: FrozenClock,
        registry: CollectorRegistry | None = None,
        *,
        service: str = "test",
        sessions: async_sessionmaker[AsyncSession] | None = None,
        model: type[OutboxMixin] = OutboxEvent,
        **options: Any,
    ) -> OutboxRelay:
        """A relay of ``service`` on this test's database (or on ``sessions``)."""
        relay = OutboxRelay(
            sessions=sessions or self.sessions,
            model=model,
            publisher=publisher,
            clock=clock,
            service=service,
            metrics=RelayMetrics(registry, METRICS_PREFIX) if registry is not None else None,
            **options,
        )
        self.made.append(relay)
        return relay

    async def close(self) -> None:
        """Give every lock back."""
        while self.made:
            await self.made.pop().close()


@asynccontextmanager
async def relays_on(factory: DatabaseFactory) -> AsyncIterator[Relays]:
    """A fresh database of the test tables, its sessions, and a relay factory on it."""
    url = common_db(factory)
    engine = make_engine(url)
    relays = Relays(make_sessionmaker(engine), url)
    try:
        yield relays
    finally:
        await relays.close()
        await engine.dispose()
