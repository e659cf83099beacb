"""A worker's outbox: events from CloudEvents, deterministic derived ids, published as written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import transaction
from vigie_common.db.outbox import add_event
from vigie_common.events.envelope import CONTENT_TYPE, CloudEvent, decode, encode, new_event
from vigie_common.events.ids import derived_event_id
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.settings import ServiceSettings

from tests.common.tables import OutboxEvent, Relays, outbox_rows, relays_on
from tests.support.database import DatabaseFactory
from tests.support.kafka import eventually, read_records, unique_topic

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
CAUSE = "0f8b5e52-4d0c-4b1f-9a57-3c2f1f0e9b11"


class Probed(BaseModel):
    """A stand-in for what a worker emits."""

    site: str
    reachable: bool


def probed(cause: str, site: str, *, ticket: str = "tkt-1") -> CloudEvent[Probed]:
    return new_event(
        id=derived_event_id(cause, "observation", site),
        type="vigie.observation.recorded.v1",
        source="/vigie/prober",
        subject=ticket,
        data=Probed(site=site, reachable=True),
        time=START,
    )


@pytest.fixture
async def relays(databases: DatabaseFactory) -> AsyncIterator[Relays]:
    async with relays_on(databases) as made:
        yield made


def test_the_same_cause_and_kind_always_give_the_same_id() -> None:
    first = derived_event_id(CAUSE, "verdict")

    assert first == derived_event_id(CAUSE, "verdict")
    assert first == "0498c089-67c4-5198-ae93-d57a5de74dd9", "never changes across releases"
    assert uuid.UUID(first).version == 5
    assert derived_event_id(CAUSE, "verdict", "site-a") == derived_event_id(
        CAUSE, "verdict", "site-a"
    )


def test_different_kinds_causes_or_parts_give_different_ids() -> None:
    ids = {
        derived_event_id(CAUSE, "verdict"),
        derived_event_id(CAUSE, "observation"),
        derived_event_id(str(uuid.uuid4()), "verdict"),
        derived_event_id(CAUSE, "observation", "site-a"),
        derived_event_id(CAUSE, "observation", "site-b"),
        derived_event_id(CAUSE, "observation", "a-b", "c"),
        derived_event_id(CAUSE, "observation", "a", "b-c"),
    }

    assert len(ids) == 7
    with pytest.raises(ValueError, match="cause"):
        derived_event_id("", "verdict")


@pytest.mark.integration
async def test_add_event_twice_with_the_same_id_keeps_one_row(relays: Relays) -> None:
    event = probed(CAUSE, "site-a")
    now = START + timedelta(seconds=5)

    async with transaction(relays.sessions) as session:
        assert await add_event(session, OutboxEvent, event, topic="vigie.observations.v1", now=now)
        assert not await add_event(session, OutboxEvent, event, topic="vigie.observations.v1")
    async with transaction(relays.sessions) as session:  # the cause redelivered, later
        again = probed(CAUSE, "site-a")
        assert not await add_event(session, OutboxEvent, again, topic="vigie.observations.v1")

    [row] = await outbox_rows(relays.sessions)
    assert (row.event_id, row.key, row.topic) == (event.id, "tkt-1", "vigie.observations.v1")
    assert (row.content_type, row.created_at, row.attempts) == (CONTENT_TYPE, now, 0)
    assert row.value == encode(event)


@pytest.mark.integration
async def test_add_event_keeps_the_order_of_one_transaction_and_defaults_to_event_time(
    relays: Relays,
) -> None:
    sites = ["site-c", "site-a", "site-b"]
    async with transaction(relays.sessions) as session:
        for site in sites:
            await add_event(session, OutboxEvent, probed(CAUSE, site), topic="t")

    after = await outbox_rows(relays.sessions)
    assert [decode(r.value, Probed).data.site for r in after] == sites
    assert {r.created_at for r in after} == {START}


@pytest.mark.integration
async def test_add_event_refuses_what_does_not_fit_its_columns(relays: Relays) -> None:
    too_long = new_event(
        id="x" * 201,
        type="t",
        source="/s",
        subject="k",
        data=Probed(site="s", reachable=False),
        time=START,
    )
    async with transaction(relays.sessions) as session:
        with pytest.raises(ValueError, match="id longer than 200"):
            await add_event(session, OutboxEvent, too_long, topic="t")
        with pytest.raises(ValueError, match="topic"):
            await add_event(session, OutboxEvent, probed(CAUSE, "s"), topic="t" * 250)


@pytest.mark.integration
async def test_an_added_event_is_published_and_read_back_from_kafka_as_the_same_event(
    relays: Relays, kafka_bootstrap: str
) -> None:
    topic = unique_topic()
    ticket = f"tkt-{uuid.uuid4().hex}"
    events = [probed(CAUSE, site, ticket=ticket) for site in ("site-a", "site-b")]
    async with transaction(relays.sessions) as session:
        for event in events:
            await add_event(session, OutboxEvent, event, topic=topic)
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    producer = EventProducer(producer_options(settings, client_id="vigie-test-outbox-events"))
    try:
        outbox = relays.make(producer, FrozenClock(START), service="prober")

        async def drained() -> bool:
            await outbox.drain_once()
            return (await outbox.refresh_stats())[0] == 0

        await eventually(drained, within=30, every=0.5)
    finally:
        await producer.stop()

    records = await read_records(kafka_bootstrap, topic, keys={ticket}, expect=2, within=30)
    assert [decode(r.value, Probed) for r in records] == events
    assert all(r.key.decode() == ticket for r in records)
    assert all(dict(r.headers)["content-type"] == CONTENT_TYPE.encode() for r in records)
