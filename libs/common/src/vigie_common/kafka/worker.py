"""Composition of a consumer service (prober, notifier): engine, DLQ producer, loop, exporter.

The service supplies its handler, inbox table and topics; this wires the rest the same way
for each, and stops cleanly on SIGTERM / Ctrl-C (finish the message in hand, commit, leave).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigie_common.clock import Clock, SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.kafka.consumer import ConsumeLoop, ConsumerMetrics, Handler, consumer_options
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.logs import get_logger
from vigie_common.metrics import start_exporter
from vigie_common.settings import ServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a consumer service declares."""

    name: str
    """Service name: consumer group ``vigie-<name>``, metric prefix ``vigie_<name>``."""
    topics: Sequence[str]
    inbox: type[ProcessedEventMixin]
    metrics_host: str
    metrics_port: int
    group_id: str | None = None
    """Consumer group; ``vigie-<name>`` when not given."""


async def run_worker(
    settings: ServiceSettings,
    spec: WorkerSpec,
    *,
    handler: Handler,
    registry: CollectorRegistry,
    clock: Clock | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the consume loop until SIGTERM/SIGINT (or ``stop`` is set); metrics meanwhile."""
    engine = None
    if sessions is None:
        engine = make_engine(settings.database_url, echo=settings.database_echo)
        sessions = make_sessionmaker(engine)
    group = spec.group_id or f"vigie-{spec.name}"
    producer = EventProducer(producer_options(settings, client_id=f"vigie-{spec.name}"))
    loop = ConsumeLoop(
        options=consumer_options(settings, group_id=group, client_id=f"vigie-{spec.name}"),
        topics=spec.topics,
        handler=handler,
        sessions=sessions,
        inbox=spec.inbox,
        dead_letters=producer,
        clock=clock or SystemClock(),
        metrics=ConsumerMetrics(registry, f"vigie_{spec.name}"),
    )
    server = start_exporter(port=spec.metrics_port, host=spec.metrics_host, registry=registry)
    running = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    for sig in signals:
        running.add_signal_handler(sig, loop.stop)
    watcher = asyncio.create_task(_stop_when(stop, loop)) if stop is not None else None
    log.info("worker started", service=spec.name, topics=list(spec.topics), group=group)
    try:
        await loop.run()
    finally:
        for sig in signals:
            running.remove_signal_handler(sig)
        if watcher is not None:
            watcher.cancel()
        server.shutdown()
        server.server_close()
        await producer.stop()
        if engine is not None:
            await engine.dispose()
        log.info("worker stopped", service=spec.name)


async def _stop_when(event: asyncio.Event, loop: ConsumeLoop) -> None:
    await event.wait()
    loop.stop()
