"""A record the broker refuses for good is set aside as dead: it never blocks later rows."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from prometheus_client import CollectorRegistry
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import transaction
from vigie_common.db.outbox import ERROR_TEXT_LIMIT, list_dead, requeue_dead
from vigie_common.kafka.failures import RecordRefused
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.logs import configure_logging

from tests.common.tables import METRICS_PREFIX, Relays, add_events, outbox_rows, relays_on
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)


@dataclass
class Refusing:
    """A broker that refuses the records of the ``permanent`` keys for good (each alone)."""

    permanent: set[str] = field(default_factory=set)
    transient: set[str] = field(default_factory=set)
    calls: list[list[str]] = field(default_factory=list)

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        self.calls.append([r.key for r in records])
        return [self._verdict(r) for r in records]

    def _verdict(self, record: OutgoingRecord) -> BaseException | None:
        if record.key in self.permanent:
            return RecordRefused(f"{len(record.value)} bytes: over max_request_size " + "x" * 5000)
        if record.key in self.transient:
            away: BaseException = KafkaConnectionError("broker away")
            return away
        return None


@dataclass
class BatchRefusing(Refusing):
    """A broker refusing a whole record batch for one oversized record in it (one error)."""

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        if len(records) > 1 and any(r.key in self.permanent for r in records):
            self.calls.append([r.key for r in records])
            shared = MessageSizeTooLargeError("the batch is over message.max.bytes")
            return [shared] * len(records)
        return await super().send_many(records)


@pytest.fixture
async def relays(databases: DatabaseFactory) -> AsyncIterator[Relays]:
    async with relays_on(databases) as made:
        yield made


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Log lines written from the first call on (process-wide logging restored after).

    The first call configures JSON logging to the captured stderr, which exists only while
    the test body runs.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    started = False

    def lines() -> list[dict[str, Any]]:
        nonlocal started
        if not started:
            configure_logging(service="test", level="INFO")
            started = True
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield lines
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


async def test_a_record_refused_for_good_is_set_aside_and_later_rows_are_published(
    relays: Relays,
) -> None:
    clock = FrozenClock(START)
    keys = ["a-1", "big", "b-1", "a-2"]
    await add_events(relays.sessions, clock, keys, sizes={"big": 2000})
    publisher = Refusing(permanent={"big"})
    registry = CollectorRegistry()
    outbox = relays.make(publisher, clock, registry)
    clock.advance(timedelta(seconds=2))

    published = await outbox.drain_once()

    assert published == 3, "the rows after the refused one leave"
    after = {r.key: r for r in await outbox_rows(relays.sessions)}
    assert [after[k].sent_at for k in ("a-1", "b-1", "a-2")] == [START + timedelta(seconds=2)] * 3
    big = after["big"]
    assert (big.sent_at, big.dead_at, big.attempts) == (None, START + timedelta(seconds=2), 1)
    assert big.last_error is not None and big.last_error.startswith("RecordRefused: 2000 bytes")
    assert len(big.last_error) <= ERROR_TEXT_LIMIT

    async with relays.sessions() as session:
        [dead] = await list_dead(session, type(big))
    assert (dead.event_id, dead.topic, dead.key, dead.size) == (
        big.event_id,
        "vigie.test.v1",
        "big",
        2000,
    )
    assert (dead.created_at, dead.dead_at, dead.attempts) == (START, big.dead_at, 1)
    assert dead.last_error == big.last_error
    assert await outbox.refresh_stats() == (0, 0.0), "a dead row is not backlog"
    assert outbox.dead == 1
    assert registry.get_sample_value(f"{METRICS_PREFIX}_outbox_dead") == 1
    assert registry.get_sample_value(f"{METRICS_PREFIX}_outbox_set_aside_total") == 1
    assert registry.get_sample_value(f"{METRICS_PREFIX}_outbox_backlog") == 0

    await add_events(relays.sessions, clock, ["a-3"])
    assert await outbox.drain_once() == 1
    assert publisher.calls[-1] == ["a-3"], "the dead row is never sent again"


async def test_a_dead_row_is_logged_once_with_event_id_topic_key_and_reason(
    relays: Relays, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    logs()  # from here on
    clock = FrozenClock(START)
    await add_events(relays.sessions, clock, ["big", "ok"], sizes={"big": 3000})
    outbox = relays.make(Refusing(permanent={"big"}), clock)

    await outbox.drain_once()
    await outbox.drain_once()

    [line] = [r for r in logs() if "set aside" in r["event"]]
    [big] = [r for r in await outbox_rows(relays.sessions) if r.key == "big"]
    assert (line["event_id"], line["topic"], line["key"]) == (big.event_id, "vigie.test.v1", "big")
    assert line["reason"] == big.last_error and line["size"] == 3000
    assert line["level"] == "error"


async def test_requeue_dead_puts_the_row_back_once_the_cause_is_fixed(relays: Relays) -> None:
    clock = FrozenClock(START)
    await add_events(relays.sessions, clock, ["big", "ok"])
    publisher = Refusing(permanent={"big"})
    registry = CollectorRegistry()
    outbox = relays.make(publisher, clock, registry)
    assert await outbox.drain_once() == 1
    [big, _ok] = await outbox_rows(relays.sessions)
    model = type(big)

    publisher.permanent.clear()  # say the topic's max.message.bytes was raised
    async with transaction(relays.sessions) as session:
        assert await requeue_dead(session, model, event_id=big.event_id) is True
        assert await requeue_dead(session, model, event_id=big.event_id) is False
        assert await requeue_dead(session, model, event_id="no-such-event") is False
    assert await outbox.refresh_stats() == (1, 0.0)

    assert await outbox.drain_once() == 1
    [big_after, _] = await outbox_rows(relays.sessions)
    assert big_after.sent_at is not None and big_after.dead_at is None
    assert big_after.attempts == 1, "the attempts stay as a record of the refusal"
    async with relays.sessions() as session:
        assert await list_dead(session, model) == []
    await outbox.refresh_stats()
    assert registry.get_sample_value(f"{METRICS_PREFIX}_outbox_dead") == 0


async def test_a_batch_refused_as_a_whole_kills_only_the_record_at_fault(relays: Relays) -> None:
    clock = FrozenClock(START)
    keys = ["t-1", "t-2", "big", "t-1", "t-3"]
    await add_events(relays.sessions, clock, keys)
    publisher = BatchRefusing(permanent={"big"})
    outbox = relays.make(publisher, clock)

    assert await outbox.drain_once() == 4

    after = await outbox_rows(relays.sessions)
    assert [(r.key, r.dead_at is not None, r.sent_at is not None) for r in after] == [
        ("t-1", False, True),
        ("t-2", False, True),
        ("big", True, False),
        ("t-1", False, True),
        ("t-3", False, True),
    ]
    assert publisher.calls == [keys, ["t-1"], ["t-2"], ["big"], ["t-1"], ["t-3"]]
    assert after[2].last_error is not None and after[2].last_error.startswith("RecordRefused")


async def test_a_transient_failure_still_stops_the_batch_after_a_dead_row(
    relays: Relays,
) -> None:
    clock = FrozenClock(START)
    await add_events(relays.sessions, clock, ["a", "big", "slow", "c"])
    publisher = Refusing(permanent={"big"}, transient={"slow"})
    outbox = relays.make(publisher, clock)

    assert await outbox.drain_once() == 1

    a, big, slow, c = await outbox_rows(relays.sessions)
    assert (a.sent_at is not None, big.dead_at is not None) == (True, True)
    assert (slow.sent_at, slow.dead_at, slow.attempts) == (None, None, 1)
    assert slow.last_error == "KafkaConnectionError: broker away"
    assert (c.sent_at, c.dead_at, c.attempts) == (None, None, 0), "what follows waits, in order"
    assert outbox.failing
    assert await outbox.refresh_stats() == (2, 0.0)

    publisher.transient.clear()
    assert await outbox.drain_once() == 2
    assert publisher.calls[-1] == ["slow", "c"]
    assert not outbox.failing


async def test_list_dead_pages_newest_first(relays: Relays) -> None:
    clock = FrozenClock(START)
    keys = [f"big-{i}" for i in range(5)]
    await add_events(relays.sessions, clock, keys)
    outbox = relays.make(Refusing(permanent=set(keys)), clock)
    await outbox.drain_once()
    model = type((await outbox_rows(relays.sessions))[0])

    async with relays.sessions() as session:
        first = await list_dead(session, model, limit=2)
        second = await list_dead(session, model, limit=2, before=first[-1].seq)
        third = await list_dead(session, model, limit=2, before=second[-1].seq)

    assert [d.key for d in first + second + third] == keys[::-1]
