"""Transactional outbox: events are rows written with the state change, published by a relay.

The relay publishes pending rows in ``seq`` order (so in order per ticket, since one ticket's
events share a key and so a partition), marks them sent, and never blocks the writers: while
Kafka is away the rows wait and the backlog is visible in ``/metrics``. On PostgreSQL one relay
at a time works (a transaction-scoped advisory lock), so replicas cannot reorder a ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from vigie_common.clock import Clock
from vigie_common.db.backlog import BacklogGate
from vigie_common.kafka.records import OutgoingRecord, Publisher
from vigie_common.logs import get_logger

log = get_logger(__name__)

RELAY_LOCK_KEY = 0x76696769  # "vigi": the advisory lock the relays of one database share


class OutboxMixin:
    """Columns of a service's ``outbox_event`` table."""

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(249))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[bytes] = mapped_column(LargeBinary())
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text())

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        pending = text("sent_at IS NULL")
        name = f"ix_{cls.__tablename__}_pending"  # type: ignore[attr-defined]
        return (Index(name, "seq", sqlite_where=pending, postgresql_where=pending),)


class RelayMetrics:
    """The outbox figures operators watch: backlog, its age, throughput, errors, delay."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.backlog = Gauge(
            f"{prefix}_outbox_backlog", "Events written but not yet published", registry=registry
        )
        self.oldest_age = Gauge(
            f"{prefix}_outbox_oldest_age_seconds",
            "Age of the oldest unpublished event (0 when none)",
            registry=registry,
        )
        self.published = Counter(
            f"{prefix}_outbox_published_total", "Events published to Kafka", registry=registry
        )
        self.errors = Counter(
            f"{prefix}_outbox_publish_errors_total",
            "Publish attempts that failed, by error",
            ["error"],
            registry=registry,
        )
        self.delay = Histogram(
            f"{prefix}_outbox_publish_delay_seconds",
            "From the event row's commit to the broker's acknowledgement",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )


class OutboxRelay:
    """Publishes pending outbox rows; call :meth:`wake` after committing new ones."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        model: type[OutboxMixin],
        publisher: Publisher,
        clock: Clock,
        metrics: RelayMetrics | None = None,
        gate: BacklogGate | None = None,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._sessions = sessions
        self._model = model
        self._publisher = publisher
        self._clock = clock
        self._metrics = metrics
        self.gate = gate
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._wake = asyncio.Event()
        self._postgres = sessions.kw["bind"].dialect.name == "postgresql"
        self._last_stats = float("-inf")
        self._last_prune = float("-inf")
        self._leader: AsyncConnection | None = None
        # Built once: the relay runs these hundreds of times a second under load.
        table = cast(Table, model.__table__)  # type: ignore[attr-defined]
        columns = table.c
        self._select_pending = (
            select(
                columns.seq,
                columns.topic,
                columns.key,
                columns.value,
                columns.content_type,
                columns.created_at,
            )
            .where(columns.sent_at.is_(None))
            .order_by(columns.seq)
            .limit(batch_size)
        )
        self._mark_sent = (
            update(table)
            .where(columns.seq.in_(bindparam("seqs", expanding=True)))
            .values(sent_at=bindparam("now"))
        )

    def wake(self) -> None:
        """Ask for a drain now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Drain forever; errors are logged and retried with backoff, never raised."""
        backoff = self._poll_interval
        while True:
            try:
                published = await self.drain_once()
                await self._housekeeping()
                backoff = self._poll_interval
            except Exception:  # the relay must outlive a database blip
                log.exception("outbox relay cycle failed")
                published = 0
                backoff = min(backoff * 2, 30.0)
            if published:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()

    async def drain_once(self) -> int:
        """Publish one batch of pending rows; return how many were acknowledged."""
        if self._postgres:
            connection = await self._leader_connection()
            if connection is None:
                return 0  # another replica's relay holds the lock
            try:
                rows = list((await connection.execute(self._select_pending)).all())
                results = await self._publish(rows)
                return await self._mark(connection, rows, results)
            except BaseException:
                await self.close()  # the lock goes with the connection; take it again later
                raise
        async with self._sessions() as session:
            async with session.begin():
                rows = list(
                    (await (await session.connection()).execute(self._select_pending)).all()
                )
            results = await self._publish(rows)
            async with session.begin():
                return await self._mark(await session.connection(), rows, results)

    async def _leader_connection(self) -> AsyncConnection | None:
        """The connection holding the relay lock (session-scoped): one relay per database.

        All the relay's statements run on it, in autocommit: two round trips per batch, and
        if the connection breaks the lock is gone with it, so nothing is published until
        the lock is taken again.
        """
        if self._leader is not None:
            return self._leader
        engine: AsyncEngine = self._sessions.kw["bind"]
        connection = await engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            locked = await connection.scalar(select(func.pg_try_advisory_lock(RELAY_LOCK_KEY)))
        except BaseException:
            await connection.close()
            raise
        if not locked:
            await connection.close()
            return None
        self._leader = connection
        log.info("outbox relay holds the lock")
        return connection

    async def close(self) -> None:
        """Give the lock back (by closing its connection)."""
        leader, self._leader = self._leader, None
        if leader is None:
            return
        try:
            await asyncio.wait_for(leader.close(), timeout=5)
        except Exception:  # noqa: BLE001 - a stuck or broken connection: drop it outright
            with contextlib.suppress(Exception):
                await leader.invalidate()

    async def _publish(self, rows: list[Any]) -> list[BaseException | None]:
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
        return await self._publisher.send_many(records)

    async def _mark(
        self, connection: AsyncConnection, rows: list[Any], results: list[BaseException | None]
    ) -> int:
        if not rows:
            return 0
        now = self._clock.now()
        # Stop at the first failure: what follows waits, so a ticket's events keep their order.
        sent: list[Any] = []
        failure: BaseException | None = None
        for row, error in zip(rows, results, strict=True):
            if error is not None:
                failure = error
                break
            sent.append(row)
        m = self._model
        if sent:
            await connection.execute(self._mark_sent, {"seqs": [r.seq for r in sent], "now": now})
        if failure is not None:
            failed_seq = rows[len(sent)].seq
            await connection.execute(
                update(m)
                .where(m.seq == failed_seq)
                .values(attempts=m.attempts + 1, last_error=repr(failure)[:2000])
            )
            log.warning("outbox publish failed", error=repr(failure), pending=len(rows) - len(sent))
        if self.gate is not None:
            self.gate.published(len(sent), failed=failure is not None)
        if self._metrics is not None:
            self._metrics.published.inc(len(sent))
            for r in sent:
                self._metrics.delay.observe(max((now - r.created_at).total_seconds(), 0.0))
            if failure is not None:
                self._metrics.errors.labels(type(failure).__name__).inc()
        return len(sent)

    async def _housekeeping(self) -> None:
        mono = self._clock.monotonic()
        if (self._metrics is not None or self.gate is not None) and mono - self._last_stats >= 1.0:
            self._last_stats = mono
            await self.refresh_stats()
        if mono - self._last_prune >= 3600:
            self._last_prune = mono
            await self.prune()

    async def refresh_stats(self) -> tuple[int, float]:
        """Update the backlog gauges; return (pending rows, oldest age in seconds)."""
        m = self._model
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(m.created_at)).where(m.sent_at.is_(None))
                )
            ).one()
        age = (
            0.0 if oldest is None else max((self._clock.now() - _aware(oldest)).total_seconds(), 0)
        )
        if self.gate is not None:
            self.gate.reset(int(count))
        if self._metrics is not None:
            self._metrics.backlog.set(count)
            self._metrics.oldest_age.set(age)
        return int(count), age

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention."""
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
