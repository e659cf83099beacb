"""Composition of a consumer service (prober, notifier), the same way for each.

The service declares a :class:`WorkerSpec` (its topics, inbox and outbox tables, tasks, GET
routes) and its handler; :func:`run_worker` starts the parts in dependency order and stops
them in reverse, on SIGTERM / Ctrl-C or ``stop``: the consume loop finishes the message in
hand and commits, then the tasks get their stop event and a grace period, then the API,
the relay, the producer and the engine close.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigie_common.clock import Clock, SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin, OutboxRelay, RelayMetrics
from vigie_common.http.server import ApiServer
from vigie_common.http.worker_api import Readiness, create_worker_app
from vigie_common.kafka.consumer import ConsumeLoop, ConsumerMetrics, Handler, consumer_options
from vigie_common.kafka.head import MAX_EVENT_BYTES
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.logs import get_logger
from vigie_common.settings import ServiceSettings
from vigie_common.tasks import BackgroundTask, TaskContext, TaskMetrics, TaskSupervisor

__all__ = ["WorkerSpec", "run_worker"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a consumer service declares."""

    name: str
    """Service name: consumer group ``vigie-<name>``, metric prefix ``vigie_<name>``, the
    outbox relay's lock key."""
    topics: Sequence[str]
    inbox: type[ProcessedEventMixin]
    host: str
    """Where the read API listens (``/healthz``, ``/readyz``, ``/metrics``, ``routes``)."""
    port: int
    group_id: str | None = None
    """Consumer group; ``vigie-<name>`` when not given."""
    outbox: type[OutboxMixin] | None = None
    """The service's outbox table: its relay runs beside the loop, woken after each event."""
    tasks: Sequence[BackgroundTask] = ()
    routes: APIRouter | None = None
    """The service's own GET endpoints, behind the read token."""
    retry_backoff: float = 0.5
    """Seconds before retrying a message that failed transiently; doubles per failure."""
    max_retry_backoff: float = 10.0
    task_grace: float = 10.0
    """Seconds the tasks get to return after the stop event, before they are cancelled."""
    batch_size: int = 1
    """Messages of a partition stored per transaction (see ``ConsumeLoop``)."""
    on_processed: Callable[[], None] | None = None
    """Called after each transaction that stored new effects, besides waking the relay (a
    task that acts on what the loop stored wakes with it instead of polling)."""


@dataclass(frozen=True, slots=True)
class _Parts:
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay | None
    clock: Clock


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
    """Run the worker until SIGTERM/SIGINT (or until ``stop`` is set, then no signal is taken).

    Raises:
        OSError: the API's ``host:port`` cannot be listened on.
        Exception: whatever stopped the consume loop (a bug in the handler), after a clean stop.
    """
    async with AsyncExitStack() as stack:
        parts = await _open_parts(stack, settings, spec, registry, clock or SystemClock(), sessions)
        loop = _consume_loop(settings, spec, parts, handler, registry)
        supervisor = TaskSupervisor(
            spec.tasks,
            context=lambda name, stopping: _task_context(name, stopping, parts),
            metrics=TaskMetrics(registry, f"vigie_{spec.name}"),
            grace=spec.task_grace,
        )
        readiness = Readiness(
            sessions=parts.sessions,
            consumer=loop,
            extra=_informational_checks(parts.relay, supervisor, spec.tasks),
        )
        app = create_worker_app(
            settings, name=spec.name, registry=registry, readiness=readiness, routes=spec.routes
        )
        api = ApiServer(app, host=spec.host, port=spec.port)
        await api.start()
        stack.push_async_callback(api.stop)
        supervisor.start()
        stack.push_async_callback(supervisor.stop)
        with _stopping_on(stop, loop):
            log.info("worker started", service=spec.name, topics=list(spec.topics), port=api.port)
            await loop.run()
    log.info("worker stopped", service=spec.name)


async def _open_parts(
    stack: AsyncExitStack,
    settings: ServiceSettings,
    spec: WorkerSpec,
    registry: CollectorRegistry,
    clock: Clock,
    sessions: async_sessionmaker[AsyncSession] | None,
) -> _Parts:
    """Engine, producer and relay, each registered on ``stack`` to close in reverse order."""
    if sessions is None:
        engine = make_engine(settings.database_url, echo=settings.database_echo)
        stack.push_async_callback(engine.dispose)
        sessions = make_sessionmaker(engine)
    producer = EventProducer(producer_options(settings, client_id=f"vigie-{spec.name}"))
    stack.push_async_callback(producer.stop)
    relay = None
    if spec.outbox is not None:
        relay = OutboxRelay(
            sessions=sessions,
            model=spec.outbox,
            publisher=producer,
            clock=clock,
            metrics=RelayMetrics(registry, f"vigie_{spec.name}"),
            service=spec.name,
        )
        task = asyncio.create_task(relay.run(), name=f"vigie-{spec.name}-relay")
        stack.push_async_callback(_stop_relay, relay, task)
    return _Parts(sessions=sessions, producer=producer, relay=relay, clock=clock)


def _consume_loop(
    settings: ServiceSettings,
    spec: WorkerSpec,
    parts: _Parts,
    handler: Handler,
    registry: CollectorRegistry,
) -> ConsumeLoop:
    group = spec.group_id or f"vigie-{spec.name}"
    return ConsumeLoop(
        options=consumer_options(settings, group_id=group, client_id=f"vigie-{spec.name}"),
        topics=spec.topics,
        handler=handler,
        sessions=parts.sessions,
        inbox=spec.inbox,
        dead_letters=parts.producer,
        clock=parts.clock,
        metrics=ConsumerMetrics(registry, f"vigie_{spec.name}"),
        retry_backoff=spec.retry_backoff,
        max_retry_backoff=spec.max_retry_backoff,
        # Never below what a producer may send: such a record is vigie's own, not poison.
        max_event_bytes=max(MAX_EVENT_BYTES, settings.kafka_max_message_bytes),
        on_processed=_after_commit(parts.relay, spec.on_processed),
        batch_size=spec.batch_size,
    )


def _after_commit(
    relay: OutboxRelay | None, extra: Callable[[], None] | None
) -> Callable[[], None] | None:
    """What runs after the loop stored new effects: the relay's wake and the service's own."""
    calls = [call for call in (relay.wake if relay is not None else None, extra) if call]
    if len(calls) <= 1:
        return calls[0] if calls else None

    def both() -> None:
        for call in calls:
            call()

    return both


def _task_context(name: str, stopping: asyncio.Event, parts: _Parts) -> TaskContext:
    relay = parts.relay
    return TaskContext(
        name=name,
        sessions=parts.sessions,
        clock=parts.clock,
        publisher=parts.producer,
        wake_relay=relay.wake if relay is not None else _nothing,
        stop=stopping,
    )


def _informational_checks(
    relay: OutboxRelay | None, supervisor: TaskSupervisor, tasks: Sequence[BackgroundTask]
) -> dict[str, Callable[[], Any]]:
    """``/readyz`` extras that never make the worker unready: the backlog, the tasks."""
    checks: dict[str, Callable[[], Any]] = {}
    if relay is not None:

        async def outbox() -> dict[str, float]:
            backlog, age = await relay.refresh_stats()
            return {"backlog": backlog, "oldest_age_s": round(age, 3)}

        checks["outbox"] = outbox
    if tasks:
        checks["tasks"] = lambda: dict(supervisor.states)
    return checks


async def _stop_relay(relay: OutboxRelay, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await relay.close()  # gives its PostgreSQL lock back


@contextlib.contextmanager
def _stopping_on(stop: asyncio.Event | None, loop: ConsumeLoop) -> Iterator[None]:
    """Stop ``loop`` on SIGTERM/SIGINT, or, when given, only on ``stop``."""
    running = asyncio.get_running_loop()
    if stop is not None:
        watcher = asyncio.create_task(_stop_when(stop, loop))
        try:
            yield
        finally:
            watcher.cancel()
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        running.add_signal_handler(sig, loop.stop)
    try:
        yield
    finally:
        for sig in signals:
            running.remove_signal_handler(sig)


async def _stop_when(event: asyncio.Event, loop: ConsumeLoop) -> None:
    await event.wait()
    loop.stop()


def _nothing() -> None:
    """No outbox: nothing to wake."""
