"""PostgreSQL: one relay per service publishes; a failing relay gives its lock back for sure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.outbox import OutboxRelay, relay_lock_key
from vigie_common.kafka.records import OutgoingRecord

from tests.common.tables import OtherOutboxEvent, Relays, add_events, outbox_rows, relays_on
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
TAKEOVER_S = 5.0


@dataclass
class Publisher:
    """Acknowledges everything, or raises (a bug mid-drain) while ``explode`` is set."""

    explode: bool = False
    keys: list[str] = field(default_factory=list)

    async def send_many(self, records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        if self.explode:
            raise RuntimeError("publisher blew up mid-drain")
        self.keys.extend(r.key for r in records)
        return [None] * len(records)


@dataclass
class Replicas:
    """Two engines on one PostgreSQL database, as two replicas of a service would have."""

    relays: Relays
    other: async_sessionmaker[AsyncSession]
    admin_dsn: str

    @property
    def database(self) -> str:
        return str(make_url(self.relays.url).database)

    def advisory_holders(self) -> list[int]:
        """Backend pids holding an advisory lock in this database (granted)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s",
                (self.database,),
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def terminate(self, pid: int) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
async def replicas(
    postgres_factory: DatabaseFactory, postgres_admin_dsn: str
) -> AsyncIterator[Replicas]:
    async with relays_on(postgres_factory) as relays:
        engine = make_engine(relays.url)
        try:
            yield Replicas(relays, make_sessionmaker(engine), postgres_admin_dsn)
        finally:
            await relays.close()
            await engine.dispose()


async def takes_over(relay: OutboxRelay, *, expect: int) -> float:
    """Seconds until ``relay`` publishes ``expect`` rows (drains every 0.2 s); fails after 5 s."""
    started = time.monotonic()
    published = 0
    while time.monotonic() - started < TAKEOVER_S:
        published += await relay.drain_once()
        if published >= expect:
            return time.monotonic() - started
        await _pause()
    raise AssertionError(f"no takeover within {TAKEOVER_S} s: published {published}/{expect}")


async def test_a_relay_failing_mid_drain_gives_the_lock_to_another_replica(
    replicas: Replicas,
) -> None:
    clock = FrozenClock(START)
    sessions = replicas.relays.sessions
    await add_events(sessions, clock, ["t-1", "t-2"])
    failing = Publisher(explode=True)
    first = replicas.relays.make(failing, clock, service="ingest")
    second = replicas.relays.make(Publisher(), clock, service="ingest", sessions=replicas.other)

    with pytest.raises(RuntimeError, match="mid-drain"):
        await first.drain_once()

    assert replicas.advisory_holders() == [], "no idle pooled connection keeps the lock"
    assert await takes_over(second, expect=2) < TAKEOVER_S
    await second.close()
    failing.explode = False
    await add_events(sessions, clock, ["t-3"])
    assert await takes_over(first, expect=1) < TAKEOVER_S, "the failed relay recovers too"
    assert failing.keys == ["t-3"]


async def test_a_relay_whose_connection_is_killed_gives_way_and_recovers(
    replicas: Replicas,
) -> None:
    clock = FrozenClock(START)
    sessions = replicas.relays.sessions
    publisher = Publisher()
    first = replicas.relays.make(publisher, clock, service="ingest")
    second = replicas.relays.make(Publisher(), clock, service="ingest", sessions=replicas.other)
    await add_events(sessions, clock, ["t-1"])
    assert await first.drain_once() == 1
    [leader_pid] = replicas.advisory_holders()

    replicas.terminate(leader_pid)
    await add_events(sessions, clock, ["t-2"])
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver makes of it
        await first.drain_once()

    assert await takes_over(second, expect=1) < TAKEOVER_S
    await second.close()
    await add_events(sessions, clock, ["t-3"])
    assert await takes_over(first, expect=1) < TAKEOVER_S
    assert publisher.keys == ["t-1", "t-3"]
    assert [r.sent_at is not None for r in await outbox_rows(sessions)] == [True] * 3


async def test_relays_of_two_services_on_one_database_publish_at_once(
    replicas: Replicas,
) -> None:
    clock = FrozenClock(START)
    await add_events(replicas.relays.sessions, clock, ["i-1"])
    await add_events(replicas.relays.sessions, clock, ["p-1"], model=OtherOutboxEvent)
    ingest = replicas.relays.make(Publisher(), clock, service="ingest")
    prober = replicas.relays.make(
        Publisher(), clock, service="prober", sessions=replicas.other, model=OtherOutboxEvent
    )

    assert await ingest.drain_once() == 1
    assert await prober.drain_once() == 1, "the prober's relay is not held by ingest's lock"
    assert len(replicas.advisory_holders()) == 2


async def test_two_relays_of_one_service_exclude_each_other(replicas: Replicas) -> None:
    clock = FrozenClock(START)
    first = replicas.relays.make(Publisher(), clock, service="ingest")
    second = replicas.relays.make(Publisher(), clock, service="ingest", sessions=replicas.other)
    await add_events(replicas.relays.sessions, clock, ["t-1"])
    assert await first.drain_once() == 1

    await add_events(replicas.relays.sessions, clock, ["t-2"])
    assert await second.drain_once() == 0, "the first one leads"
    await first.close()
    assert await second.drain_once() == 1


def test_relay_lock_key_is_stable_per_service_and_a_postgres_bigint() -> None:
    keys = {service: relay_lock_key(service) for service in ("ingest", "prober", "notifier")}

    assert len(set(keys.values())) == 3
    assert keys["ingest"] == relay_lock_key("ingest")
    assert keys["ingest"] == -5919062934968747385, "never changes: replicas must agree"
    assert all(-(2**63) <= key < 2**63 for key in keys.values())
    with pytest.raises(ValueError, match="service"):
        relay_lock_key("")


async def _pause() -> None:
    await asyncio.sleep(0.2)
