"""The consume loop on a real broker: once per event id, poison to the DLQ, retries, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.envelope import encode
from vigie_common.events.topics import dead_letter
from vigie_common.kafka.consumer import ConsumeLoop, Outcome, ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent, RetryableError
from vigie_common.kafka.tansu import free_port

from tests.common.consumer_rig import (
    NOW,
    FakeMessage,
    RecordingPublisher,
    Rig,
    ScriptedHandler,
    committed,
    make_rig,
    running,
    ticket_event,
    true,
)
from tests.common.tables import Seen, common_db
from tests.support.database import DatabaseFactory
from tests.support.kafka import (
    committed_offset,
    eventually,
    produce,
    read_records,
    unique_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def rig(kafka_bootstrap: str, databases: DatabaseFactory) -> AsyncIterator[Rig]:
    async with make_rig(kafka_bootstrap, common_db(databases)) as made:
        yield made


@pytest.fixture
async def sqlite_rig(kafka_bootstrap: str, sqlite_factory: DatabaseFactory) -> AsyncIterator[Rig]:
    async with make_rig(kafka_bootstrap, common_db(sqlite_factory)) as made:
        yield made


async def test_valid_event_is_handled_once_and_remembered(rig: Rig) -> None:
    event = ticket_event()
    loop = rig.loop()

    async with running(loop):
        await rig.send(event)
        await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
        await eventually(lambda: committed(rig, 1), within=10)

    assert rig.handler.calls == [event.id]
    assert rig.handler.tickets == [event.subject]
    assert await rig.remembered() == {event.id}
    assert await committed_offset(rig.bootstrap, rig.group, rig.topic) == 1


async def test_same_event_twice_is_handled_once_and_counted_duplicate(rig: Rig) -> None:
    event = ticket_event()
    later = ticket_event()
    loop = rig.loop()

    async with running(loop):
        await rig.send(event, event, later)
        await eventually(lambda: true(rig.outcomes("processed") == 2), within=20)

    assert rig.handler.calls == [event.id, later.id]
    assert rig.outcomes("duplicate") == 1
    assert await rig.remembered() == {event.id, later.id}


async def test_redelivery_after_a_restart_is_a_duplicate(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    event = ticket_event()
    async with running(rig.loop()):
        await rig.send(event)
        await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
    rig.group = unique_group()  # a new group reads the topic again: a redelivery

    async with running(rig.loop()):
        await eventually(lambda: true(rig.outcomes("duplicate") == 1), within=20)

    assert rig.handler.calls == [event.id]


async def test_garbage_and_invalid_event_go_to_the_dlq_and_the_loop_goes_on(
    sqlite_rig: Rig,
) -> None:
    rig = sqlite_rig
    poison = ticket_event()
    valid = ticket_event()
    rig.handler.script[poison.id] = [InvalidEvent("unknown ticket source", detail={"x": 1})]
    garbage_key = f"garbage-{uuid.uuid4().hex}"

    async with running(rig.loop()):
        await produce(rig.bootstrap, rig.topic, [(garbage_key, b"\x00not json")])
        await rig.send(poison, valid)
        await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
        await eventually(lambda: committed(rig, 3), within=10)

    assert rig.outcomes("dead_lettered") == 2
    assert rig.handler.tickets == [valid.subject]
    assert await rig.remembered() == {valid.id}, "a dead-lettered event is not remembered"
    dlq = await read_records(
        rig.bootstrap, dead_letter(rig.topic), keys={garbage_key, poison.subject}, expect=2
    )
    assert len(dlq) == 2
    garbage, invalid = sorted(dlq, key=lambda r: int(dict(r.headers)["vigie-original-offset"]))
    g_headers, i_headers = dict(garbage.headers), dict(invalid.headers)
    assert garbage.key.decode() == garbage_key
    assert garbage.value == b"\x00not json"
    assert g_headers["vigie-error"] == b"not a CloudEvents 1.0 JSON envelope"
    assert g_headers["vigie-original-offset"] == b"0"
    assert g_headers["vigie-original-topic"] == rig.topic.encode()
    assert g_headers["vigie-original-partition"] == b"0"
    assert invalid.key.decode() == poison.subject
    assert invalid.value == encode(poison)
    assert i_headers["vigie-error"] == b"unknown ticket source"
    assert i_headers["vigie-error-detail"] == b"{'x': 1}"
    assert i_headers["vigie-original-offset"] == b"1"


async def test_event_failing_to_decode_in_the_handler_goes_to_the_dlq(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    key = f"bad-data-{uuid.uuid4().hex}"
    raw = (
        b'{"specversion": "1.0", "id": "evt-' + uuid.uuid4().hex.encode() + b'", '
        b'"type": "vigie.ticket.received.v1", "source": "/t", "subject": "' + key.encode() + b'", '
        b'"time": "2025-06-19T09:00:00Z", "data": {"ticket": {"id": 1}}}'
    )

    async with running(rig.loop()):
        await produce(rig.bootstrap, rig.topic, [(key, raw)])
        await eventually(lambda: true(rig.outcomes("dead_lettered") == 1), within=20)

    [record] = await read_records(rig.bootstrap, dead_letter(rig.topic), keys={key}, expect=1)
    headers = dict(record.headers)
    assert headers["vigie-error"] == b"invalid TicketEvent event"
    assert b"data.ticket.source" in headers["vigie-error-detail"]


async def test_retryable_error_is_retried_and_committed_only_after_success(
    sqlite_rig: Rig,
) -> None:
    rig = sqlite_rig
    event = ticket_event()
    committed_while_retrying: list[int] = []

    class CheckingHandler(ScriptedHandler):
        async def __call__(self, session: AsyncSession, event: ReceivedEvent) -> None:
            if len(self.calls) == 2:  # the third try, before its effect is stored
                committed_while_retrying.append(
                    await committed_offset(rig.bootstrap, rig.group, rig.topic)
                )
            await super().__call__(session, event)

    rig.handler = CheckingHandler(
        script={event.id: [RetryableError("db away"), RetryableError("db still away")]}
    )

    async with running(rig.loop(retry_backoff=0.2)):
        await rig.send(event)
        await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
        await eventually(lambda: committed(rig, 1), within=10)

    assert rig.handler.calls == [event.id] * 3
    assert rig.outcomes("retry") == 2
    assert committed_while_retrying == [-1], "nothing is committed while the event is retried"
    assert await rig.remembered() == {event.id}
    # A restart of the group resumes after offset 0: the event is not redelivered.
    assert await committed_offset(rig.bootstrap, rig.group, rig.topic) == 1


async def test_unexpected_error_stops_the_loop_without_committing(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    event = ticket_event()
    rig.handler.script[event.id] = [RuntimeError("a bug")]
    loop = rig.loop()
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(loop.ready.wait(), timeout=20)
        await rig.send(event)
        with pytest.raises(RuntimeError, match="a bug"):
            await asyncio.wait_for(asyncio.shield(task), timeout=20)
    finally:
        loop.stop()
        if not task.done():
            await asyncio.wait_for(task, timeout=15)

    assert await committed_offset(rig.bootstrap, rig.group, rig.topic) == -1
    assert await rig.remembered() == set()


async def test_stop_ends_run_cleanly(sqlite_rig: Rig) -> None:
    loop = sqlite_rig.loop()
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(loop.ready.wait(), timeout=20)

    loop.stop()
    await asyncio.wait_for(task, timeout=10)

    assert task.done() and not task.cancelled()
    assert task.exception() is None


async def test_stop_ends_run_while_the_broker_is_unreachable(
    sqlite_factory: DatabaseFactory,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    async with make_rig(nobody, common_db(sqlite_factory), create=False) as rig:
        loop = rig.loop(retry_backoff=0.1)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.5)

        loop.stop()
        await asyncio.wait_for(task, timeout=10)

    assert not loop.ready.is_set()


async def test_cancel_while_joining_the_group_closes_the_kafka_consumer(
    sqlite_rig: Rig,
) -> None:
    """A worker cancelled during start-up (task cancel, not stop()) must not leak its consumer."""
    loop = sqlite_rig.loop()
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.1)  # inside AIOKafkaConsumer.start(): bootstrap and group join
    assert not loop.ready.is_set()

    with warnings.catch_warnings(record=True) as caught:  # contain the leak to this test
        warnings.simplefilter("always")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        leaked = _open_consumers()
        for consumer in leaked:
            await consumer.stop()
        gc.collect()

    unclosed = [str(w.message) for w in caught if "Unclosed AIOKafkaConsumer" in str(w.message)]
    assert (len(leaked), unclosed) == (0, []), (
        "ConsumeLoop._start leaves its AIOKafkaConsumer open when cancelled during start()"
    )


@pytest.mark.timeout(30)
async def test_concurrent_redelivery_of_one_event_is_a_duplicate_not_a_crash(
    postgres_factory: DatabaseFactory,
) -> None:
    """Two members processing one event at once (a rebalance): the loser sees a duplicate.

    Both read ``seen() == False``; the second ``remember()`` then violates the inbox key.
    """
    engine = make_engine(common_db(postgres_factory))
    both_inside = asyncio.Barrier(2)
    calls: list[int] = []

    async def slow_handler(session: AsyncSession, event: ReceivedEvent) -> None:
        calls.append(event.offset)
        await asyncio.wait_for(both_inside.wait(), timeout=10)

    loop = ConsumeLoop(
        options={},
        topics=["vigie.test.v1"],
        handler=slow_handler,
        sessions=make_sessionmaker(engine),
        inbox=Seen,
        dead_letters=RecordingPublisher(),
        clock=FrozenClock(NOW),
    )
    event = ticket_event()
    message = FakeMessage("vigie.test.v1", 0, 0, event.subject.encode(), encode(event))
    try:
        outcomes = await asyncio.gather(
            loop.process(message),
            loop.process(replace(message, offset=1)),
            return_exceptions=True,
        )
        async with make_sessionmaker(engine)() as session:
            stored = list(await session.scalars(select(Seen.event_id)))
    finally:
        await engine.dispose()

    assert sorted(calls) == [0, 1]
    assert stored == [event.id]
    assert sorted(str(o) for o in outcomes) == [Outcome.DUPLICATE, Outcome.PROCESSED], outcomes


def _open_consumers() -> list[AIOKafkaConsumer]:
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, AIOKafkaConsumer) and obj._closed is False
    ]


async def test_on_processed_is_called_once_per_newly_stored_event(
    sqlite_factory: DatabaseFactory,
) -> None:
    """The worker wakes its outbox relay with it: after a commit, never for a duplicate."""
    engine = make_engine(common_db(sqlite_factory))
    woken: list[int] = []
    handler = ScriptedHandler()
    event = ticket_event()
    handler.script[event.id] = [RetryableError("db away")]
    loop = ConsumeLoop(
        options={},
        topics=["vigie.test.v1"],
        handler=handler,
        sessions=make_sessionmaker(engine),
        inbox=Seen,
        dead_letters=RecordingPublisher(),
        clock=FrozenClock(NOW),
        on_processed=lambda: woken.append(1),
    )
    message = FakeMessage("vigie.test.v1", 0, 0, event.subject.encode(), encode(event))
    try:
        outcomes = [await loop.process(replace(message, offset=i)) for i in range(3)]
    finally:
        await engine.dispose()

    assert outcomes == [Outcome.RETRY, Outcome.PROCESSED, Outcome.DUPLICATE]
    assert woken == [1]
