"""The notifier's worker on real parts: tickets remembered once, other types dead-lettered."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import InvalidEnvelope, encode
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent
from vigie_notifier.consumer import handle
from vigie_notifier.models import VERSION_TABLE, ProcessedEvent
from vigie_notifier.settings import NotifierSettings

from tests.common import service_checks
from tests.common.service_worker import (
    Service,
    running_worker,
    service_db,
    ticket_received,
)
from tests.support.database import DatabaseFactory

SERVICE = Service(
    name="notifier",
    package="vigie_notifier",
    settings_cls=NotifierSettings,
    handler=handle,
    inbox=ProcessedEvent,
    version_table=VERSION_TABLE,
)


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


async def test_handle_refuses_an_event_type_it_does_not_handle() -> None:
    event = ticket_received(event_type="vigie.verdict.reached.v1")
    expected = r"the notifier does not handle 'vigie\.verdict\.reached\.v1'"

    with pytest.raises(InvalidEvent, match=expected):
        await handle(AsyncSession(), received(encode(event), event.type))


async def test_handle_refuses_a_ticket_event_with_invalid_data() -> None:
    raw = b'{"specversion": "1.0", "id": "e", "type": "vigie.ticket.received.v1", "data": {}}'

    with pytest.raises(InvalidEnvelope, match="invalid TicketEvent event"):
        await handle(AsyncSession(), received(raw, "vigie.ticket.received.v1"))


@pytest.mark.integration
async def test_ticket_events_are_remembered_by_the_worker(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    async with running_worker(SERVICE, service_db(databases, SERVICE), kafka_bootstrap) as worker:
        await service_checks.ticket_event_is_remembered(worker, kafka_bootstrap)


@pytest.mark.integration
async def test_same_event_twice_is_stored_once_and_counted_duplicate(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    db = service_db(sqlite_factory, SERVICE)
    async with running_worker(SERVICE, db, kafka_bootstrap) as worker:
        await service_checks.duplicate_is_counted_once(worker, kafka_bootstrap)


@pytest.mark.integration
async def test_event_of_another_type_lands_on_the_dead_letter_topic(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    db = service_db(sqlite_factory, SERVICE)
    async with running_worker(SERVICE, db, kafka_bootstrap) as worker:
        await service_checks.other_event_type_is_dead_lettered(worker, kafka_bootstrap, "notifier")


@pytest.mark.integration
async def test_worker_stops_on_cancel_and_releases_its_metrics_port(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    db = service_db(sqlite_factory, SERVICE)
    async with running_worker(SERVICE, db, kafka_bootstrap) as worker:
        await service_checks.stops_and_releases_its_port(worker, kafka_bootstrap)
