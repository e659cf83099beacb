"""The prober's and the notifier's workers on real parts: tickets remembered once, other
types dead-lettered, ready once joined, background tasks run, a clean stop. Both consume
``vigie.tickets.v1`` through the same worker composition.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.clock import SystemClock
from vigie_common.events.envelope import InvalidEnvelope, encode
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_common.tasks import BackgroundTask, TaskContext
from vigie_notifier import consumer as notifier_consumer
from vigie_notifier import models as notifier_models
from vigie_notifier.main import build_notify
from vigie_notifier.settings import NotifierSettings
from vigie_prober import consumer as prober_consumer
from vigie_prober import models as prober_models
from vigie_prober.settings import ObservationSettings, ProberSettings

from tests.common import service_checks
from tests.common.service_worker import (
    Service,
    running_worker,
    service_db,
    ticket_received,
)
from tests.support.database import DatabaseFactory
from tests.support.kafka import eventually

SERVICES = [
    Service(
        name="prober",
        package="vigie_prober",
        settings_cls=ProberSettings,
        handler=prober_consumer.make_handler(
            clock=SystemClock(), observation=ObservationSettings()
        ),
        inbox=prober_models.ProcessedEvent,
        version_table=prober_models.VERSION_TABLE,
        outbox=prober_models.OutboxEvent,
    ),
    Service(
        name="notifier",
        package="vigie_notifier",
        settings_cls=NotifierSettings,
        handler=notifier_consumer.make_handler(
            deps=build_notify(NotifierSettings(env="test")), clock=SystemClock()
        ),
        inbox=notifier_models.ProcessedEvent,
        version_table=notifier_models.VERSION_TABLE,
        outbox=notifier_models.OutboxEvent,
    ),
]
each_service = pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])


def received(raw: bytes, event_type: str) -> ReceivedEvent:
    return ReceivedEvent(
        topic=TICKETS,
        partition=0,
        offset=0,
        key="k",
        raw=raw,
        event_id="evt-1",
        event_type=event_type,
    )


@each_service
async def test_handle_refuses_an_event_type_it_does_not_handle(service: Service) -> None:
    event = ticket_received(event_type="vigie.observation.recorded.v1")
    expected = rf"the {service.name} does not handle 'vigie\.observation\.recorded\.v1'"

    with pytest.raises(InvalidEvent, match=expected):
        await service.handler(AsyncSession(), received(encode(event), event.type))


@each_service
async def test_handle_refuses_a_ticket_event_with_invalid_data(service: Service) -> None:
    raw = b'{"specversion": "1.0", "id": "e", "type": "vigie.ticket.received.v1", "data": {}}'

    with pytest.raises(InvalidEnvelope, match="invalid TicketEvent event"):
        await service.handler(AsyncSession(), received(raw, "vigie.ticket.received.v1"))


@pytest.mark.integration
@each_service
async def test_ticket_events_are_remembered_by_the_worker(
    databases: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    async with running_worker(service, service_db(databases, service), kafka_bootstrap) as worker:
        await service_checks.ticket_event_is_remembered(worker, kafka_bootstrap)


@pytest.mark.integration
@each_service
async def test_same_event_twice_is_stored_once_and_counted_duplicate(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    db = service_db(sqlite_factory, service)
    async with running_worker(service, db, kafka_bootstrap) as worker:
        await service_checks.duplicate_is_counted_once(worker, kafka_bootstrap)


@pytest.mark.integration
@each_service
async def test_event_of_another_type_lands_on_the_dead_letter_topic(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    db = service_db(sqlite_factory, service)
    async with running_worker(service, db, kafka_bootstrap) as worker:
        await service_checks.other_event_type_is_dead_lettered(
            worker, kafka_bootstrap, service.name
        )


@pytest.mark.integration
@each_service
async def test_worker_stops_on_cancel_and_releases_its_api_port(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    db = service_db(sqlite_factory, service)
    async with running_worker(service, db, kafka_bootstrap) as worker:
        await service_checks.stops_and_releases_its_port(worker, kafka_bootstrap)


@pytest.mark.integration
@each_service
async def test_worker_is_ready_once_joined_and_readyz_names_no_broker(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    db = service_db(sqlite_factory, service)
    async with running_worker(service, db, kafka_bootstrap) as worker:
        await service_checks.is_ready_without_naming_the_broker(worker, kafka_bootstrap)


@pytest.mark.integration
async def test_worker_runs_its_background_tasks_and_stops_them_with_it(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    service = SERVICES[0]
    seen: dict[str, object] = {}
    stopped = asyncio.Event()

    async def scheduler(ctx: TaskContext) -> None:
        async with ctx.sessions() as session:
            seen["database"] = await session.scalar(text("SELECT 1"))
        seen["name"] = ctx.name
        while await ctx.sleep(0.05):
            seen["ticks"] = int(str(seen.get("ticks", 0))) + 1
        stopped.set()

    db = service_db(sqlite_factory, service)
    tasks = [BackgroundTask("scheduler", scheduler)]
    async with running_worker(service, db, kafka_bootstrap, tasks=tasks) as worker:
        await eventually(lambda: _true(int(str(seen.get("ticks", 0))) >= 3), within=20)
        async with httpx.AsyncClient(base_url=worker.base_url, timeout=5) as client:
            checks = (await client.get("/readyz")).json()["checks"]
        worker.stop.set()
        await asyncio.wait_for(asyncio.shield(worker.task), timeout=20)

    assert (seen["database"], seen["name"]) == (1, "scheduler")
    assert checks["tasks"] == {"scheduler": "running"}
    assert stopped.is_set(), "the task saw the stop event and returned"


async def _true(value: bool) -> bool:
    return value
