"""A consume loop on a topic of its own, with what a test needs to drive and observe it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.envelope import CloudEvent, decode, encode, new_event
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    CanonicalTicket,
    TicketEvent,
    TicketState,
)
from vigie_common.kafka.consumer import (
    ConsumeLoop,
    ConsumerMetrics,
    ReceivedEvent,
    consumer_options,
)
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.settings import ServiceSettings

from tests.common.tables import Seen
from tests.support.kafka import (
    committed_offset,
    create_topic_with_dlq,
    produce,
    unique_group,
    unique_topic,
)

NOW = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
PREFIX = "vigie_test"


def ticket_event(
    ticket_id: str | None = None, *, event_id: str | None = None
) -> CloudEvent[TicketEvent]:
    ticket_id = ticket_id or f"tkt-{uuid.uuid4().hex}"
    ticket = CanonicalTicket(
        id=ticket_id,
        source="canonical",
        upstream_id=ticket_id,
        version=1,
        opened_at=NOW,
        state=TicketState.OPEN,
    )
    return new_event(
        type=TICKET_RECEIVED,
        source="/vigie/test",
        subject=ticket_id,
        data=TicketEvent(ticket=ticket),
        time=NOW,
        id=event_id,
    )


@dataclass
class ScriptedHandler:
    """Records each call; raises the errors scripted for an event id, one per call, in order."""

    script: dict[str, list[Exception]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, event: ReceivedEvent) -> None:
        self.calls.append(event.event_id)
        pending = self.script.get(event.event_id)
        if pending:
            raise pending.pop(0)
        self.tickets.append(decode(event.raw, TicketEvent).data.ticket.id)


@dataclass
class Rig:
    """A consume loop on a topic of its own, with what it needs to be observed."""

    bootstrap: str
    topic: str
    group: str
    sessions: async_sessionmaker[AsyncSession]
    handler: ScriptedHandler
    registry: CollectorRegistry
    metrics: ConsumerMetrics
    dead_letters: EventProducer

    def loop(self, **kw: float) -> ConsumeLoop:
        settings = ServiceSettings(kafka_bootstrap_servers=self.bootstrap, kafka_idempotence=False)
        return ConsumeLoop(
            options=consumer_options(settings, group_id=self.group, client_id="vigie-test"),
            topics=[self.topic],
            handler=self.handler,
            sessions=self.sessions,
            inbox=Seen,
            dead_letters=self.dead_letters,
            clock=FrozenClock(NOW),
            metrics=self.metrics,
            **kw,  # type: ignore[arg-type]
        )

    def outcomes(self, outcome: str) -> float:
        value = self.registry.get_sample_value(
            f"{PREFIX}_consumer_messages_total", {"topic": self.topic, "outcome": outcome}
        )
        return value or 0.0

    async def send(self, *events: CloudEvent[TicketEvent]) -> None:
        await produce(self.bootstrap, self.topic, [(e.subject, encode(e)) for e in events])

    async def remembered(self) -> set[str]:
        async with self.sessions() as session:
            return set(await session.scalars(select(Seen.event_id)))


@asynccontextmanager
async def make_rig(bootstrap: str, db_url: str, *, create: bool = True) -> AsyncIterator[Rig]:
    topic = unique_topic()
    if create:
        await create_topic_with_dlq(bootstrap, topic)
    engine = make_engine(db_url)
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_idempotence=False)
    producer = EventProducer(producer_options(settings, client_id="vigie-test-dlq"))
    registry = CollectorRegistry()
    try:
        yield Rig(
            bootstrap=bootstrap,
            topic=topic,
            group=unique_group(),
            sessions=make_sessionmaker(engine),
            handler=ScriptedHandler(),
            registry=registry,
            metrics=ConsumerMetrics(registry, PREFIX),
            dead_letters=producer,
        )
    finally:
        await producer.stop()
        await engine.dispose()


@asynccontextmanager
async def running(loop: ConsumeLoop) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``loop`` as a task until the block ends; then stop it and wait (bounded)."""
    task = asyncio.create_task(loop.run())
    ready = asyncio.create_task(loop.ready.wait())
    try:
        await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # surface a crash at start
        assert loop.ready.is_set(), "the consumer did not start in 20 s"
        yield task
    finally:
        ready.cancel()
        loop.stop()
        await asyncio.wait_for(asyncio.shield(task), timeout=15)


@dataclass(frozen=True)
class FakeMessage:
    """The attributes of an aiokafka ``ConsumerRecord`` that the loop reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class RecordingPublisher:
    records: list[OutgoingRecord] = field(default_factory=list)

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        self.records.extend(records)
        return [None] * len(records)


async def true(value: bool) -> bool:
    return value


async def committed(rig: Rig, offset: int) -> bool:
    return await committed_offset(rig.bootstrap, rig.group, rig.topic) == offset
