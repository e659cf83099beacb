"""The prober's and the notifier's workers on real parts: tickets remembered once, other
types dead-lettered, a clean stop. Both consume ``vigie.tickets.v1`` the same way today.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import InvalidEnvelope, encode
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_notifier import consumer as notifier_consumer
from vigie_notifier import models as notifier_models
from vigie_notifier.settings import NotifierSettings
from vigie_prober import consumer as prober_consumer
from vigie_prober import models as prober_models
from vigie_prober.settings import ProberSettings

from tests.common import service_checks
from tests.common.service_worker import (
    Service,
    running_worker,
    service_db,
    ticket_received,
)
from tests.support.database import DatabaseFactory

SERVICES = [
    Service(
        name="prober",
        package="vigie_prober",
        settings_cls=ProberSettings,
        handler=prober_consumer.handle,
        inbox=prober_models.ProcessedEvent,
        version_table=prober_models.VERSION_TABLE,
    ),
    Service(
        name="notifier",
        package="vigie_notifier",
        settings_cls=NotifierSettings,
        handler=notifier_consumer.handle,
        inbox=notifier_models.ProcessedEvent,
        version_table=notifier_models.VERSION_TABLE,
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
    event = ticket_received(event_type="vigie.verdict.reached.v1")
    expected = rf"the {service.name} does not handle 'vigie\.verdict\.reached\.v1'"

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
async def test_worker_stops_on_cancel_and_releases_its_metrics_port(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, service: Service
) -> None:
    db = service_db(sqlite_factory, service)
    async with running_worker(service, db, kafka_bootstrap) as worker:
        await service_checks.stops_and_releases_its_port(worker, kafka_bootstrap)
