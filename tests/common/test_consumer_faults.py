"""The consume loop under faults: PostgreSQL away (retried, never raised), malformed envelopes
(dead-lettered before the database is touched)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.envelope import encode
from vigie_common.events.topics import dead_letter
from vigie_common.kafka.consumer import ConsumeLoop, Handler, Outcome, ReceivedEvent

from tests.common.consumer_rig import (
    NOW,
    FakeMessage,
    RecordingPublisher,
    committed,
    make_rig,
    running,
    ticket_event,
    true,
)
from tests.common.tables import Seen, common_db
from tests.support.database import DatabaseFactory
from tests.support.kafka import committed_offset, eventually, read_records
from tests.support.tcp_proxy import TcpProxy, proxied

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOPIC = "vigie.test.v1"


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` with the proxy as its host and port."""
    parsed = make_url(url).set(host=proxy.host, port=proxy.port)
    return parsed.render_as_string(hide_password=False)


def upstream(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


@asynccontextmanager
async def sessions_of(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def bare_loop(
    sessions: async_sessionmaker[AsyncSession], handler: Handler, publisher: RecordingPublisher
) -> ConsumeLoop:
    """A loop whose ``process`` is called directly: no broker needed."""
    return ConsumeLoop(
        options={"group_id": "vigie-test"},
        topics=[TOPIC],
        handler=handler,
        sessions=sessions,
        inbox=Seen,
        dead_letters=publisher,
        clock=FrozenClock(NOW),
    )


def message(raw: bytes, key: str = "k") -> FakeMessage:
    return FakeMessage(TOPIC, 0, 0, key.encode(), raw)


async def remembered(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(Seen.event_id)))


async def nothing(session: AsyncSession, event: ReceivedEvent) -> None:
    del session, event


# --- transient database errors: process() answers RETRY, the message is not lost


async def test_database_refusing_connections_is_a_retry_not_a_crash(
    postgres_factory: DatabaseFactory,
) -> None:
    url = common_db(postgres_factory)
    event = ticket_event()
    async with proxied(*upstream(url)) as proxy, sessions_of(through(url, proxy)) as sessions:
        loop = bare_loop(sessions, nothing, RecordingPublisher())
        await proxy.cut()

        outcome = await loop.process(message(encode(event)))

        await proxy.restore()
        after = await loop.process(message(encode(event)))
        stored = await remembered(sessions)

    assert outcome is Outcome.RETRY
    assert after is Outcome.PROCESSED
    assert stored == [event.id]


async def test_connection_killed_mid_transaction_is_a_retry_not_a_crash(
    postgres_factory: DatabaseFactory,
) -> None:
    """The server ends the session (admin shutdown, failover): asyncpg's error arrives as a
    plain ``DBAPIError`` (SQLSTATE 57P01), neither Operational nor Interface."""
    url = common_db(postgres_factory)
    event = ticket_event()
    calls: list[str] = []

    async def killed_once(session: AsyncSession, received: ReceivedEvent) -> None:
        calls.append(received.event_id)
        if len(calls) == 1:
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    async with sessions_of(url) as sessions:
        loop = bare_loop(sessions, killed_once, RecordingPublisher())
        outcome = await loop.process(message(encode(event)))
        after = await loop.process(message(encode(event)))
        stored = await remembered(sessions)

    assert (outcome, after) == (Outcome.RETRY, Outcome.PROCESSED)
    assert calls == [event.id, event.id]
    assert stored == [event.id]


async def test_timeout_in_the_handler_is_a_retry_not_a_crash(
    sqlite_factory: DatabaseFactory,
) -> None:
    async def slow(session: AsyncSession, event: ReceivedEvent) -> None:
        await asyncio.wait_for(asyncio.Event().wait(), timeout=0.01)

    async with sessions_of(common_db(sqlite_factory)) as sessions:
        outcome = await bare_loop(sessions, slow, RecordingPublisher()).process(
            message(encode(ticket_event()))
        )
        stored = await remembered(sessions)

    assert outcome is Outcome.RETRY
    assert stored == []


async def test_a_database_error_that_is_a_bug_still_stops_the_loop(
    postgres_factory: DatabaseFactory,
) -> None:
    """Only transient errors are retried: a division by zero would be retried forever."""

    async def buggy(session: AsyncSession, event: ReceivedEvent) -> None:
        await session.execute(text("SELECT 1 / 0"))

    async with sessions_of(common_db(postgres_factory)) as sessions:
        loop = bare_loop(sessions, buggy, RecordingPublisher())
        with pytest.raises(DBAPIError, match="division by zero"):
            await loop.process(message(encode(ticket_event())))


async def test_loop_keeps_running_while_the_database_is_away_then_processes_once(
    kafka_bootstrap: str, postgres_factory: DatabaseFactory
) -> None:
    url = common_db(postgres_factory)
    event = ticket_event()
    async with (
        proxied(*upstream(url)) as proxy,
        make_rig(kafka_bootstrap, through(url, proxy)) as rig,
    ):
        loop = rig.loop(retry_backoff=0.1, max_retry_backoff=0.8)
        with capture_logs() as logs:
            async with running(loop) as task:
                await proxy.cut()
                await rig.send(event)
                await eventually(lambda: true(rig.outcomes("retry") >= 4), within=20)
                before_window = rig.outcomes("retry")
                await asyncio.sleep(2.0)
                in_window = rig.outcomes("retry") - before_window
                alive = not task.done()
                committed_while_away = await committed_offset(rig.bootstrap, rig.group, rig.topic)

                await proxy.restore()
                await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
                await eventually(lambda: committed(rig, 1), within=10)
        stored = await rig.remembered()

    assert alive, "the loop stopped while the database was away"
    assert committed_while_away == -1, "nothing is committed while the event is retried"
    # Backoff grew to its 0.8 s ceiling: a fixed 0.1 s would have retried ~20 times in 2 s.
    assert in_window <= 5, in_window
    assert rig.handler.calls == [event.id]
    assert stored == {event.id}
    retried = [line for line in logs if line["event"] == "event will be retried"]
    assert len(retried) == 1, "a repeated failure is logged once per interval"
    assert len(retried[0]["error"]) <= 600


# --- malformed envelopes: dead-lettered with the reason, before the database is touched


def raw_event(**changes: object) -> bytes:
    body = json.loads(encode(ticket_event()))
    body.update(changes)
    return json.dumps(body).encode()


MALFORMED: dict[str, tuple[Callable[[], bytes], str]] = {
    "id over the inbox column": (
        lambda: raw_event(id="e" * 201),
        "envelope attribute too long: id (at most 200 characters)",
    ),
    "type over the inbox column": (
        lambda: raw_event(type="vigie." + "t" * 200),
        "envelope attribute too long: type (at most 200 characters)",
    ),
    "source over its bound": (
        lambda: raw_event(source="/" + "s" * 1000),
        "envelope attribute too long: source (at most 500 characters)",
    ),
    "NUL in the id": (
        lambda: raw_event(id="evt-\x00-1"),
        "envelope attribute holds control characters: id",
    ),
    "value over the size bound": (
        lambda: raw_event(padding="p" * (4 * 1024 * 1024)),
        "event over 4194304 bytes",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
async def test_malformed_envelope_is_dead_lettered_before_the_database(
    databases: DatabaseFactory, case: str
) -> None:
    make_raw, reason = MALFORMED[case]
    raw = make_raw()
    calls: list[str] = []

    async def handler(session: AsyncSession, event: ReceivedEvent) -> None:
        calls.append(event.event_id)

    publisher = RecordingPublisher()
    async with sessions_of(common_db(databases)) as sessions:
        outcome = await bare_loop(sessions, handler, publisher).process(message(raw))
        stored = await remembered(sessions)

    assert outcome is Outcome.DEAD_LETTERED
    assert (calls, stored) == ([], [])
    [record] = publisher.records
    headers = dict(record.headers)
    assert record.topic == dead_letter(TOPIC)
    assert headers["vigie-error"].decode().startswith(reason), headers["vigie-error"]
    if len(raw) <= 4 * 1024 * 1024:
        assert record.value == raw
    else:  # too large for any producer: its start, and its size
        assert record.value == raw[: 64 * 1024]
        assert headers["vigie-original-bytes"] == str(len(raw)).encode()


async def test_event_id_too_long_for_the_inbox_does_not_block_its_partition(
    kafka_bootstrap: str, postgres_factory: DatabaseFactory
) -> None:
    long_id = ticket_event(event_id="e" * 250 + uuid.uuid4().hex)
    valid = ticket_event()
    async with make_rig(kafka_bootstrap, common_db(postgres_factory)) as rig:
        async with running(rig.loop()):
            await rig.send(long_id, valid)
            await eventually(lambda: true(rig.outcomes("processed") == 1), within=20)
            await eventually(lambda: committed(rig, 2), within=10)
        stored = await rig.remembered()
        [record] = await read_records(
            rig.bootstrap, dead_letter(rig.topic), keys={long_id.subject}, expect=1
        )

    assert stored == {valid.id}
    assert rig.outcomes("dead_lettered") == 1
    assert dict(record.headers)["vigie-error"].startswith(b"envelope attribute too long: id")
