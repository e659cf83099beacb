"""The outbox relay: in order, marked sent, stops at the first failure, prunes, counts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from vigie_common.clock import FrozenClock
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.settings import ServiceSettings

from tests.common.tables import METRICS_PREFIX as PREFIX
from tests.common.tables import Relays, add_events, outbox_rows, relays_on
from tests.support.database import DatabaseFactory
from tests.support.kafka import eventually, read_records, unique_topic

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)


class PublishRefused(Exception):
    """What the fake broker answers for a record it refuses (a transient refusal)."""


@dataclass
class FakePublisher:
    """Acknowledges everything except the positions listed in ``refuse`` on the first call."""

    refuse: set[int] = field(default_factory=set)
    calls: list[list[OutgoingRecord]] = field(default_factory=list)

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        first = not self.calls
        self.calls.append(list(records))
        return [
            PublishRefused(f"refused {r.key}") if first and i in self.refuse else None
            for i, r in enumerate(records)
        ]


@pytest.fixture
async def relays(databases: DatabaseFactory) -> AsyncIterator[Relays]:
    async with relays_on(databases) as made:
        yield made


async def test_drain_publishes_pending_rows_in_seq_order_and_marks_them_sent(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    keys = ["t-1", "t-2", "t-1", "t-3", "t-1"]
    values = await add_events(sessions, clock, keys)
    publisher = FakePublisher()
    outbox = relays.make(publisher, clock)
    clock.advance(timedelta(seconds=2))

    published = await outbox.drain_once()

    assert published == 5
    [call] = publisher.calls
    assert [r.key for r in call] == keys
    assert [r.value for r in call] == values
    assert all(r.topic == "vigie.test.v1" for r in call)
    assert all(r.headers == (("content-type", b"application/cloudevents+json"),) for r in call)
    after = await outbox_rows(sessions)
    assert [r.sent_at for r in after] == [START + timedelta(seconds=2)] * 5
    assert [r.attempts for r in after] == [0] * 5
    assert await outbox.refresh_stats() == (0, 0.0)
    assert await outbox.drain_once() == 0
    assert len(publisher.calls) == 1, "nothing pending, nothing sent"


async def test_drain_respects_the_batch_size_and_continues_in_order(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    keys = [f"k-{i}" for i in range(7)]
    await add_events(sessions, clock, keys)
    publisher = FakePublisher()
    outbox = relays.make(publisher, clock, batch_size=3)

    counts = [await outbox.drain_once() for _ in range(4)]

    assert counts == [3, 3, 1, 0]
    assert [[r.key for r in call] for call in publisher.calls] == [
        keys[0:3],
        keys[3:6],
        keys[6:7],
    ]


async def test_failure_of_the_third_record_marks_two_sent_and_keeps_the_rest_in_order(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    keys = ["a-1", "a-2", "a-3", "a-4", "a-5"]
    await add_events(sessions, clock, keys)
    publisher = FakePublisher(refuse={2})
    registry = CollectorRegistry()
    outbox = relays.make(publisher, clock, registry)
    clock.advance(timedelta(seconds=3))

    published = await outbox.drain_once()

    assert published == 2
    first = await outbox_rows(sessions)
    assert [r.key for r in first] == keys
    assert [r.sent_at for r in first[:2]] == [START + timedelta(seconds=3)] * 2
    assert first[2].sent_at is None
    assert first[2].attempts == 1
    assert first[2].last_error is not None
    assert "PublishRefused" in first[2].last_error and "refused a-3" in first[2].last_error
    for untouched in first[3:]:
        assert (untouched.sent_at, untouched.attempts, untouched.last_error) == (None, 0, None)
    assert await outbox.refresh_stats() == (3, 3.0)
    assert registry.get_sample_value(f"{PREFIX}_outbox_backlog") == 3
    assert registry.get_sample_value(f"{PREFIX}_outbox_oldest_age_seconds") == 3.0

    clock.advance(timedelta(seconds=1))
    assert await outbox.drain_once() == 3

    assert [r.key for r in publisher.calls[1]] == keys[2:]
    second = await outbox_rows(sessions)
    assert [r.sent_at for r in second[2:]] == [START + timedelta(seconds=4)] * 3
    assert second[2].attempts == 1, "the attempt count stays as a record of the failure"
    assert await outbox.refresh_stats() == (0, 0.0)


async def test_relay_metrics_count_published_errors_and_delay(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    await add_events(sessions, clock, ["m-1", "m-2", "m-3", "m-4"])
    publisher = FakePublisher(refuse={2})
    registry = CollectorRegistry()
    outbox = relays.make(publisher, clock, registry)
    clock.advance(timedelta(seconds=3))

    await outbox.drain_once()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"{PREFIX}_{name}", labels)

    assert sample("outbox_published_total") == 2
    assert sample("outbox_publish_errors_total", error="PublishRefused") == 1
    assert sample("outbox_publish_delay_seconds_count") == 2
    assert sample("outbox_publish_delay_seconds_sum") == 6.0

    await outbox.drain_once()

    assert sample("outbox_published_total") == 4
    assert sample("outbox_publish_errors_total", error="PublishRefused") == 1
    assert sample("outbox_publish_delay_seconds_count") == 4


async def test_prune_deletes_only_rows_sent_before_the_retention(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    outbox = relays.make(FakePublisher(), clock, retention=timedelta(days=7))
    await add_events(sessions, clock, ["old-1", "old-2"])
    await outbox.drain_once()  # sent at START
    clock.advance(timedelta(days=6))
    await add_events(sessions, clock, ["recent"])
    await outbox.drain_once()  # sent at START + 6 days
    await add_events(sessions, clock, ["pending"])  # never sent
    clock.advance(timedelta(days=1, seconds=1))  # old ones are now 7 days and 1 s old

    deleted = await outbox.prune()

    assert deleted == 2
    left = await outbox_rows(sessions)
    assert [(r.key, r.sent_at is None) for r in left] == [("recent", False), ("pending", True)]
    assert await outbox.prune() == 0


async def test_run_publishes_when_woken_and_survives_cancellation(
    relays: Relays,
) -> None:
    sessions = relays.sessions
    clock = FrozenClock(START)
    publisher = FakePublisher()
    outbox = relays.make(publisher, clock, poll_interval=30.0)
    task = asyncio.create_task(outbox.run())
    try:
        await asyncio.sleep(0.2)  # first cycle done, now waiting for a wake-up
        await add_events(sessions, clock, ["w-1"])
        outbox.wake()

        async def published() -> bool:
            return any(r.sent_at is not None for r in await outbox_rows(sessions))

        await eventually(published, within=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert [r.key for call in publisher.calls for r in call] == ["w-1"]


async def test_relay_with_the_real_producer_publishes_in_order_to_kafka(
    relays: Relays, kafka_bootstrap: str
) -> None:
    sessions = relays.sessions
    topic = unique_topic()
    clock = FrozenClock(START)
    keys = [f"ticket-{i % 3}" for i in range(9)]
    values = await add_events(sessions, clock, keys, topic=topic)
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    producer = EventProducer(producer_options(settings, client_id="vigie-test-outbox"))
    try:
        outbox = relays.make(producer, clock)

        async def drained() -> bool:
            await outbox.drain_once()
            return (await outbox.refresh_stats())[0] == 0

        await eventually(drained, within=30, every=0.5)
        assert producer.healthy
    finally:
        await producer.stop()

    records = await read_records(
        kafka_bootstrap, topic, keys=set(keys), expect=len(keys), within=30
    )
    assert len(records) == len(keys)
    by_key: dict[str, list[bytes]] = {}
    for record in records:
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        by_key.setdefault(record.key.decode(), []).append(record.value)
    for key in set(keys):
        expected = [v for k, v in zip(keys, values, strict=True) if k == key]
        assert by_key[key] == expected, "one key's events keep the outbox order"
