"""The outbox relay: publishes pending rows in ``seq`` order and marks them sent.

Order: one ticket's events share a key, so a partition; publishing in ``seq`` order and
stopping at the first *transient* failure (what follows waits) keeps them in order. On
PostgreSQL one relay per service works at a time (:mod:`vigie_common.db.relay_lock`).

Failures: a row the broker refuses for good (:func:`vigie_common.kafka.failures.is_permanent`)
is set aside as dead instead of blocking every later row. While the broker is away the relay
backs off, even when commits wake it, and logs the repeated failure once per interval: an
outage of hours must cost neither the disk nor the CPU.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from vigie_common.backoff import Backoff
from vigie_common.clock import Clock
from vigie_common.db.backlog import BacklogGate
from vigie_common.db.outbox_rows import (
    OutboxMixin,
    count_dead,
    error_text,
    is_pending,
    mark_sent,
    record_failure,
    select_pending,
    set_aside,
)
from vigie_common.db.relay_lock import RelayLock
from vigie_common.db.relay_metrics import RelayMetrics
from vigie_common.db.relay_reports import Outcome, RelayReports, Results
from vigie_common.kafka.failures import is_permanent
from vigie_common.kafka.records import OutgoingRecord, Publisher
from vigie_common.logs import Throttle


class OutboxRelay:
    """Publishes pending outbox rows; call :meth:`wake` after committing new ones."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        model: type[OutboxMixin],
        publisher: Publisher,
        clock: Clock,
        service: str,
        metrics: RelayMetrics | None = None,
        gate: BacklogGate | None = None,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        max_backoff: float = 10.0,
        log_interval: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._model = model
        self._publisher = publisher
        self._clock = clock
        self.gate = gate
        self._poll_interval = poll_interval
        self._retention = retention
        self._max_backoff = max(max_backoff, poll_interval)
        throttle = Throttle(log_interval, now=clock.monotonic)
        self._reports = RelayReports(throttle=throttle, metrics=metrics, gate=gate)
        self._watched = metrics is not None or gate is not None
        self._wake = asyncio.Event()
        engine = sessions.kw["bind"]
        postgres = engine.dialect.name == "postgresql"
        self._lock = RelayLock(engine, service=service) if postgres else None
        self._failing = False
        self._last_stats = float("-inf")
        self._last_prune = float("-inf")
        self.dead = 0
        """Dead rows at the last :meth:`refresh_stats`."""
        # Built once: the relay runs these hundreds of times a second under load.
        self._select_pending = select_pending(model, limit=batch_size)
        self._mark_sent = mark_sent(model)

    @property
    def failing(self) -> bool:
        """True while the last publish attempt failed transiently (the broker is away)."""
        return self._failing

    def wake(self) -> None:
        """Ask for a drain now instead of at the next poll (ignored while backing off)."""
        self._wake.set()

    async def run(self) -> None:
        """Drain forever; errors are logged (once per interval) and retried, never raised.

        Waits are in real time (the clock gives instants): a test's frozen clock must not
        freeze publishing.
        """
        backoff = Backoff(self._poll_interval, self._max_backoff)
        while True:
            try:
                published = await self.drain_once()
                await self._housekeeping()
            except Exception as exc:  # noqa: BLE001 - the relay must outlive a database blip
                self._failing = True
                self._reports.cycle_failed(exc)
                published = 0
            if self._failing:
                # Commits keep waking the relay during an outage; retrying at each wake-up
                # would spin. Sleep the backoff out, then look again.
                await asyncio.sleep(backoff.next())
                self._wake.clear()
                continue
            backoff.reset()
            if published:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    async def drain_once(self) -> int:
        """Publish one batch of pending rows; return how many were acknowledged."""
        if self._lock is not None:
            return await self._drain_as_leader(self._lock)
        async with self._sessions() as session:
            async with session.begin():
                connection = await session.connection()
                rows = list((await connection.execute(self._select_pending)).all())
            results = await self._publish(rows)
            async with session.begin():
                return await self._settle(await session.connection(), rows, results)

    async def _drain_as_leader(self, lock: RelayLock) -> int:
        """PostgreSQL: every statement on the lock's connection, in autocommit."""
        connection = await lock.acquire()
        if connection is None:
            self._failing = False  # another replica's relay publishes
            return 0
        try:
            rows = list((await connection.execute(self._select_pending)).all())
            results = await self._publish(rows)
            return await self._settle(connection, rows, results)
        except BaseException:
            await lock.release()  # for sure, or no relay anywhere publishes again
            raise

    async def close(self) -> None:
        """Give the lock back (PostgreSQL); the relay takes it again on its next drain."""
        if self._lock is not None:
            await self._lock.release()

    async def _publish(self, rows: list[Any]) -> Results:
        if not rows:
            return []
        records = [
            OutgoingRecord(
                topic=r.topic,
                key=r.key,
                value=r.value,
                headers=(("content-type", r.content_type.encode()),),
            )
            for r in rows
        ]
        return await self._isolate(records, await self._publisher.send_many(records))

    async def _isolate(self, records: list[OutgoingRecord], results: Results) -> Results:
        """Resend one by one the records that share one permanent error.

        A producer ships records in batches; a broker refusing a batch (too large, as a
        whole) fails every record in it with the same error, though only one may be at
        fault. Sent alone, each record gets its own verdict, so only the culprit dies.
        """
        if not any(results):
            return results  # the usual case: everything acknowledged
        shared = collections.Counter(id(e) for e in results if e is not None and is_permanent(e))
        if all(count == 1 for count in shared.values()):
            return results
        results = list(results)
        for index, error in enumerate(results):
            if error is None or not is_permanent(error) or shared[id(error)] == 1:
                continue
            [results[index]] = await self._publisher.send_many([records[index]])
            again = results[index]
            if again is not None and not is_permanent(again):
                break  # transient: this row and all after it wait (see Outcome.of)
        return results

    async def _settle(self, connection: AsyncConnection, rows: list[Any], results: Results) -> int:
        """Store what the attempt did (sent, dead, failed) and report it; return sent count."""
        if not rows:
            self._recovered()
            return 0
        now = self._clock.now()
        outcome = Outcome.of(rows, results)
        if outcome.sent:
            seqs = [r.seq for r in outcome.sent]
            await connection.execute(self._mark_sent, {"seqs": seqs, "now": now})
        for row, error in outcome.dead:
            reason = error_text(error)
            await set_aside(connection, self._model, seq=row.seq, error=reason, now=now)
            self._reports.set_aside(row, error, reason)
        if outcome.failure is not None:
            row, error = outcome.failure
            await record_failure(connection, self._model, seq=row.seq, error=error_text(error))
            self._failing = True
            self._reports.publish_failed(error, waiting=outcome.waiting)
        else:
            self._recovered()
        self._reports.counted(outcome, now)
        return len(outcome.sent)

    def _recovered(self) -> None:
        self._failing = False
        self._reports.resumed()

    async def _housekeeping(self) -> None:
        mono = self._clock.monotonic()
        if self._watched and mono - self._last_stats >= 1.0:
            self._last_stats = mono
            await self.refresh_stats()
        if mono - self._last_prune >= 3600:
            self._last_prune = mono
            await self.prune()

    async def refresh_stats(self) -> tuple[int, float]:
        """Update the gauges; return (pending rows, oldest pending age in seconds).

        Dead rows are not pending: they count in :attr:`dead` and the ``…_outbox_dead`` gauge.
        """
        m = self._model
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(m.created_at)).where(is_pending(m))
                )
            ).one()
            self.dead = await count_dead(session, m)
        age = (
            0.0 if oldest is None else max((self._clock.now() - _aware(oldest)).total_seconds(), 0)
        )
        self._reports.stats(backlog=int(count), oldest_age=age, dead=self.dead)
        return int(count), age

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention (dead rows stay)."""
        m = self._model
        cutoff = self._clock.now() - self._retention
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                m.__table__.delete().where(m.sent_at.is_not(None), m.sent_at < cutoff)  # type: ignore[attr-defined]
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _aware(value: datetime) -> datetime:
    """Make sure an aggregate over a UTCDateTime column is aware, whatever the backend."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
