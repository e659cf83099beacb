"""While the broker is away the relay neither spins nor floods the log, and keeps errors short."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from aiokafka.errors import KafkaConnectionError
from vigie_common.clock import FrozenClock
from vigie_common.db.outbox import ERROR_TEXT_LIMIT, error_text
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.logs import configure_logging

from tests.common.tables import Relays, add_events, outbox_rows, relays_on
from tests.support.database import DatabaseFactory
from tests.support.kafka import eventually

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
MAX_LOG_LINE = 4096


class BrokerUnavailable(ConnectionError):
    """Stands for the producer's wrapper, which once carried every earlier failure's text."""


@dataclass
class Down:
    """A broker that is away: each call fails, its error text longer than the last one's."""

    calls: int = 0
    up: bool = False

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        self.calls += 1
        if self.up:
            return [None] * len(records)
        root: BaseException = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9)]")
        error = BrokerUnavailable(
            "cannot reach Kafka: " + "BrokerUnavailable(...) " * 200 * self.calls
        )
        error.__cause__ = root  # as ``raise … from root`` leaves it
        return [error] * len(records)


@pytest.fixture
async def relays(databases: DatabaseFactory) -> AsyncIterator[Relays]:
    async with relays_on(databases) as made:
        yield made


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[str]]]:
    """Log lines written from the first call on (process-wide logging restored after).

    The first call configures JSON logging to the captured stderr, which exists only while
    the test body runs.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    started = False

    def lines() -> list[str]:
        nonlocal started
        if not started:
            configure_logging(service="test", level="INFO")
            started = True
        return [line for line in capsys.readouterr().err.splitlines() if line]

    yield lines
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


async def test_an_outage_woken_200_times_backs_off_and_logs_once_per_interval(
    relays: Relays, logs: Callable[[], list[str]]
) -> None:
    logs()  # from here on
    clock = FrozenClock(START)  # the log throttle's interval passes only when the test says
    await add_events(relays.sessions, clock, ["t-1", "t-2"])
    publisher = Down()
    outbox = relays.make(publisher, clock, poll_interval=0.05, max_backoff=0.4, log_interval=60)
    task = asyncio.create_task(outbox.run())
    try:
        started = time.monotonic()
        for _ in range(200):  # a commit wakes the relay every 5 ms for a second or more
            outbox.wake()
            await asyncio.sleep(0.005)
        calls_during_the_wakes = publisher.calls
        # Backoff 0.05, 0.1, 0.2, then every 0.4 s: a handful of calls, not one per wake-up.
        most = 5 + (time.monotonic() - started) / 0.4
        first = logs()

        clock.advance(timedelta(seconds=61))  # one interval later, the failure is logged again
        await eventually(lambda: _true(publisher.calls > calls_during_the_wakes + 1), within=5)
        second = logs()

        publisher.up = True
        await eventually(lambda: _published(relays), within=5)
        third = logs()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert 2 <= calls_during_the_wakes <= most, "backs off instead of retrying at each wake-up"
    failed = [json.loads(line) for line in first if "outbox publish failed" in line]
    assert len(failed) == 1
    assert failed[0]["suppressed"] == 0 and failed[0]["waiting"] == 2
    assert "KafkaConnectionError: Unable to bootstrap" in failed[0]["error"]
    again = [json.loads(line) for line in second if "outbox publish failed" in line]
    assert len(again) == 1 and again[0]["suppressed"] >= 1
    assert any("outbox relay resumed" in line for line in third)
    assert all(len(line.encode()) <= MAX_LOG_LINE for line in first + second + third)
    [t1, t2] = await outbox_rows(relays.sessions)
    assert t1.last_error is not None and len(t1.last_error) <= ERROR_TEXT_LIMIT
    assert t1.last_error.endswith(
        "(cause: KafkaConnectionError: Unable to bootstrap from [('127.0.0.1', 9)])"
    )
    assert t1.attempts == publisher.calls - 1 and t2.attempts == 0


def test_error_text_keeps_the_outer_message_and_the_root_cause_bounded() -> None:
    error: BaseException = OSError("connection refused")
    for depth in range(10):
        outer = RuntimeError(f"level {depth}: " + "y" * 10_000)
        outer.__cause__ = error  # ``raise … from error``, ten times over
        error = outer

    text = error_text(error)

    assert len(text) <= ERROR_TEXT_LIMIT
    assert text.startswith("RuntimeError: level 9: yyy")
    assert text.endswith("(cause: OSError: connection refused)")
    assert error_text(ValueError()) == "ValueError"
    assert error_text(ValueError("short")) == "ValueError: short"


def test_error_text_stops_at_a_suppressed_context_and_a_cycle() -> None:
    shown = ValueError("shown")
    shown.__context__, shown.__suppress_context__ = KeyError("hidden"), True  # ``from None``
    assert error_text(shown) == "ValueError: shown"
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert error_text(first) == "ValueError: a (cause: ValueError: b)"


async def _published(relays: Relays) -> bool:
    return all(r.sent_at is not None for r in await outbox_rows(relays.sessions))


async def _true(value: bool) -> bool:
    return value
