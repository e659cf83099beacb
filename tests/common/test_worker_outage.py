"""Done-when: a worker survives PostgreSQL going away for 30 s and resumes with nothing lost or
doubled. A TCP proxy the test controls stands between the worker and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.envelope import CloudEvent, decode, encode, new_event
from vigie_common.events.tickets import TicketEvent
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.tansu import free_port
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.metrics import new_registry
from vigie_common.settings import ServiceSettings

from tests.common.consumer_rig import ticket_event
from tests.common.tables import OutboxEvent, Seen, create_tables, sync_url
from tests.support.database import DatabaseFactory
from tests.support.kafka import (
    create_topic_with_dlq,
    eventually,
    produce,
    read_records,
    unique_topic,
)
from tests.support.tcp_proxy import proxied

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

OUTAGE_S = 30.0
DURING = 10  # events published while PostgreSQL is away, spread over the outage


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Effect(Base):
    """What the handler does per event; no unique key, so a doubled effect would show."""

    __tablename__ = "outage_effect"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200))


def create_all(async_url: str) -> None:
    create_tables(async_url)
    engine = create_engine(sync_url(async_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def derived(event: CloudEvent[TicketEvent], topic: str) -> OutboxEvent:
    """The event the worker emits for ``event``: a deterministic id, through the outbox."""
    out = new_event(
        type="vigie.test.probed.v1",
        source="/vigie/test-worker",
        subject=event.subject,
        data=event.data,
        time=event.time,
        id=f"{event.id}:probed",
    )
    row = OutboxEvent()
    row.event_id, row.topic, row.key, row.value = out.id, topic, out.subject, encode(out)
    row.content_type, row.created_at = "application/cloudevents+json", datetime.now(UTC)
    return row


async def test_worker_survives_postgresql_away_for_30_s_with_nothing_lost_or_doubled(
    postgres_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    direct_url = postgres_factory.create("outage", create_all)
    source, emitted = unique_topic(), unique_topic()
    await create_topic_with_dlq(kafka_bootstrap, source)
    await create_topic_with_dlq(kafka_bootstrap, emitted)

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        ticket = decode(event.raw, TicketEvent)
        session.add(Effect(event_id=event.event_id))
        session.add(derived(ticket, emitted))

    before = [ticket_event() for _ in range(5)]
    during = [ticket_event() for _ in range(DURING)]
    everything = before + during
    parsed = make_url(direct_url)
    async with proxied(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        settings = ServiceSettings(
            env="test",
            database_url=parsed.set(host=proxy.host, port=proxy.port).render_as_string(
                hide_password=False
            ),
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_idempotence=False,
            kafka_request_timeout_ms=15_000,
        )
        spec = WorkerSpec(
            name=f"outage_{uuid.uuid4().hex[:10]}",
            topics=[source],
            inbox=Seen,
            outbox=OutboxEvent,
            host="127.0.0.1",
            port=free_port(),
            retry_backoff=0.2,
            max_retry_backoff=2.0,
        )
        registry = new_registry()
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(settings, spec, handler=handle, registry=registry, stop=stop)
        )
        api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec.port}", timeout=5)
        try:
            await send(kafka_bootstrap, source, before)
            await eventually(lambda: effects_at_least(direct_url, len(before)), within=30)
            await read_records(
                kafka_bootstrap, emitted, keys=subjects(before), expect=len(before), grace=0
            )

            await proxy.cut()
            for event in during:  # spread over the outage
                await send(kafka_bootstrap, source, [event])
                await asyncio.sleep(OUTAGE_S / DURING)
            readiness_away = (await api.get("/readyz")).status_code
            alive_after_outage = not worker.done()
            await proxy.restore()

            await eventually(lambda: effects_at_least(direct_url, len(everything)), within=30)
            records = await read_records(
                kafka_bootstrap,
                emitted,
                keys=subjects(everything),
                expect=len(everything),
                within=30,
                grace=2.0,
            )
            readiness_back = (await api.get("/readyz")).status_code
            retries = registry.get_sample_value(
                f"vigie_{spec.name}_consumer_messages_total", {"topic": source, "outcome": "retry"}
            )
        finally:
            await api.aclose()
            stop.set()
            await asyncio.wait_for(worker, timeout=30)

    inbox, effects = await stored(direct_url)
    assert alive_after_outage, "the worker stopped while PostgreSQL was away"
    assert (readiness_away, readiness_back) == (503, 200)
    assert retries is not None and retries >= 1
    assert sorted(inbox) == sorted(e.id for e in everything), "every event processed once"
    assert Counter(effects) == Counter({e.id: 1 for e in everything}), "no effect doubled"
    emitted_ids = Counter(decode(r.value, TicketEvent).id for r in records)
    assert emitted_ids == Counter({f"{e.id}:probed": 1 for e in everything})


async def send(bootstrap: str, topic: str, events: list[CloudEvent[TicketEvent]]) -> None:
    await produce(bootstrap, topic, [(e.subject, encode(e)) for e in events])


def subjects(events: list[CloudEvent[TicketEvent]]) -> set[str]:
    return {e.subject for e in events}


async def effects_at_least(url: str, count: int) -> bool:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            found = await session.scalar(select(func.count()).select_from(Effect))
    finally:
        await engine.dispose()
    return (found or 0) >= count


async def stored(url: str) -> tuple[list[str], list[str]]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            inbox = list(await session.scalars(select(Seen.event_id)))
            effects = list(await session.scalars(select(Effect.event_id)))
    finally:
        await engine.dispose()
    return inbox, effects
