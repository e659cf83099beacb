"""The consume loop storing several messages per transaction (``batch_size``), on a real broker.

A batch is one transaction; anything wrong in it (poison, a duplicate inside the batch, a
retry) sends its messages through the one-by-one path, so the outcomes are those of
``batch_size=1``: each effect once, poison dead-lettered, nothing committed before stored.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.events.envelope import CloudEvent
from vigie_common.events.tickets import TicketEvent
from vigie_common.events.topics import dead_letter
from vigie_common.kafka.consumer import ReceivedEvent
from vigie_common.kafka.errors import InvalidEvent, RetryableError

from tests.common.consumer_rig import (
    NOW,
    Rig,
    ScriptedHandler,
    committed,
    make_rig,
    running,
    ticket_event,
    true,
)
from tests.common.tables import Stamp, common_db
from tests.support.database import DatabaseFactory
from tests.support.kafka import eventually, produce, read_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class StampingHandler(ScriptedHandler):
    """Stores one ``Stamp`` row per handled event (the effect), and notes each session."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: set[int] = set()

    async def __call__(self, session: AsyncSession, event: ReceivedEvent) -> None:
        self.sessions.add(id(session))
        await super().__call__(session, event)
        session.add(Stamp(id=int(event.event_id.rsplit("-", 1)[1]), at=NOW))


def numbered(count: int) -> list[CloudEvent[TicketEvent]]:
    """Events whose ids end in a number unique to the test (the ``Stamp`` key)."""
    base = uuid.uuid4().int % 10**6 * 1000  # within an int32 column
    return [ticket_event(event_id=f"evt-{base + i}") for i in range(count)]


@pytest.fixture
async def rig(kafka_bootstrap: str, databases: DatabaseFactory) -> AsyncIterator[Rig]:
    async with make_rig(kafka_bootstrap, common_db(databases)) as made:
        made.handler = StampingHandler()
        yield made


async def stamps(rig: Rig) -> list[int]:
    async with rig.sessions() as session:
        return list(await session.scalars(select(Stamp.id).order_by(Stamp.id)))


async def test_a_batch_stores_many_events_in_one_transaction_each_once(rig: Rig) -> None:
    events = numbered(30)
    await rig.send(*events)  # all on the topic before the loop starts: one fetch

    async with running(rig.loop(batch_size=10)):
        await eventually(lambda: true(rig.outcomes("processed") == 30), within=20)
        await eventually(lambda: committed(rig, 30), within=10)

    handler = rig.handler
    assert isinstance(handler, StampingHandler)
    assert sorted(handler.calls) == sorted(e.id for e in events), "each event handled once"
    assert len(handler.sessions) <= 6, f"{len(handler.sessions)} transactions for 30 events"
    assert await stamps(rig) == sorted(int(e.id.rsplit("-", 1)[1]) for e in events)
    assert await rig.remembered() == {e.id for e in events}


async def test_poison_and_duplicates_in_a_batch_behave_as_one_by_one(rig: Rig) -> None:
    events = numbered(12)
    rejected = events[4]
    wrong = InvalidEvent("this one is wrong")
    rig.handler.script[rejected.id] = [wrong, wrong]  # in its batch, then alone
    retried = events[10]  # in a clean batch: the batch takes one error, its one-by-one the other
    rig.handler.script[retried.id] = [RetryableError("away"), RetryableError("still away")]
    garbage_key = f"garbage-{uuid.uuid4().hex}"
    await rig.send(*events[:6])
    await produce(rig.bootstrap, rig.topic, [(garbage_key, b"not json")])
    await rig.send(*events[6:], events[2])  # events[2] again: a duplicate

    async with running(rig.loop(batch_size=5, retry_backoff=0.1)):
        await eventually(lambda: true(rig.outcomes("processed") == 11), within=20)
        await eventually(lambda: committed(rig, 14), within=10)

    good = [e for e in events if e is not rejected]
    assert await stamps(rig) == sorted(int(e.id.rsplit("-", 1)[1]) for e in good)
    assert await rig.remembered() == {e.id for e in good}
    assert rig.outcomes("dead_lettered") == 2  # the rejected event and the garbage
    assert rig.outcomes("duplicate") == 1
    assert rig.outcomes("retry") == 1
    async with rig.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Stamp)) == 11
    keys = {garbage_key, rejected.subject}
    records = await read_records(rig.bootstrap, dead_letter(rig.topic), keys=keys, expect=2)
    reasons = {r.key.decode(): dict(r.headers)["vigie-error"] for r in records if r.key}
    assert reasons[rejected.subject] == b"this one is wrong"
