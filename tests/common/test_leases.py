"""Due rows claimed with a lease, on PostgreSQL and SQLite, driven by a FrozenClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import String, create_engine, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from vigie_common.clock import FrozenClock
from vigie_common.db.base import ServiceBase, new_metadata
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.leases import LeaseMixin, claim_due, complete, extend, release

from tests.common.tables import sync_url
from tests.support.database import DatabaseFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Job(LeaseMixin, Base):
    __tablename__ = "lease_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


def create_tables(async_url: str) -> None:
    engine = create_engine(sync_url(async_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(databases.create("leases", create_tables))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_sessions(
    postgres_factory: DatabaseFactory,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(postgres_factory.create("leases", create_tables))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def add_jobs(sessions: async_sessionmaker[AsyncSession], *due: datetime | None) -> list[int]:
    async with sessions() as session, session.begin():
        jobs = [Job(name=f"job-{i}", due_at=at) for i, at in enumerate(due)]
        session.add_all(jobs)
    return [j.id for j in jobs]


async def claim(
    sessions: async_sessionmaker[AsyncSession], owner: str, now: datetime, limit: int = 10
) -> list[Job]:
    async with sessions() as session, session.begin():
        return await claim_due(session, Job, owner=owner, now=now, lease=LEASE, limit=limit)


async def stored(sessions: async_sessionmaker[AsyncSession], job_id: int) -> Job:
    async with sessions() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def test_a_row_not_yet_due_is_not_claimed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    [later, done] = await add_jobs(sessions, START + timedelta(seconds=1), None)

    assert await claim(sessions, "a", clock.now()) == []
    clock.advance(timedelta(seconds=1))
    claimed = await claim(sessions, "a", clock.now())

    assert [j.id for j in claimed] == [later]
    assert (await stored(sessions, done)).lease_owner is None


async def test_due_rows_are_leased_oldest_first_up_to_the_limit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = FrozenClock(START).now()
    ids = await add_jobs(sessions, START, START - timedelta(minutes=5), START - timedelta(hours=1))

    claimed = await claim(sessions, "replica-a", now, limit=2)

    assert [j.id for j in claimed] == [ids[2], ids[1]]
    assert all(j.lease_owner == "replica-a" for j in claimed)
    assert all(j.lease_expires_at == now + LEASE for j in claimed)
    assert (await stored(sessions, ids[0])).lease_owner is None


async def test_a_leased_row_is_not_claimed_by_another_before_its_lease_expires(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    await add_jobs(sessions, START)
    assert len(await claim(sessions, "a", clock.now())) == 1

    clock.advance(LEASE - timedelta(seconds=1))

    assert await claim(sessions, "b", clock.now()) == []


async def test_an_expired_lease_is_claimed_by_another_owner(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    [job_id] = await add_jobs(sessions, START)
    [held] = await claim(sessions, "crashed", clock.now())

    clock.advance(LEASE)
    [taken] = await claim(sessions, "survivor", clock.now())
    async with sessions() as session, session.begin():
        late_complete = await complete(session, held, owner="crashed", next_due_at=None)
        late_release = await release(session, held, owner="crashed")

    assert taken.id == job_id
    assert (taken.lease_owner, taken.lease_expires_at) == ("survivor", clock.now() + LEASE)
    assert (late_complete, late_release) == (False, False), "no longer the crashed one's row"
    assert (await stored(sessions, job_id)).lease_owner == "survivor"


async def test_complete_reschedules_or_retires_the_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    [recurring, once] = await add_jobs(sessions, START, START)
    first, second = await claim(sessions, "a", clock.now())
    next_time = START + timedelta(minutes=10)

    async with sessions() as session, session.begin():
        assert await complete(session, first, owner="a", next_due_at=next_time)
        assert await complete(session, second, owner="a", next_due_at=None)

    assert (first.due_at, first.lease_owner, first.lease_expires_at) == (next_time, None, None)
    clock.advance(timedelta(days=1))
    assert [j.id for j in await claim(sessions, "b", clock.now())] == [recurring]
    retired = await stored(sessions, once)
    assert (retired.due_at, retired.lease_owner) == (None, None)


async def test_release_gives_the_row_back_now_or_later(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    [now_again, backoff] = await add_jobs(sessions, START, START)
    first, second = await claim(sessions, "a", clock.now())

    async with sessions() as session, session.begin():
        assert await release(session, first, owner="a")
        assert await release(session, second, owner="a", retry_at=START + timedelta(seconds=30))

    assert [j.id for j in await claim(sessions, "b", clock.now())] == [now_again]
    clock.advance(timedelta(seconds=30))  # b's lease still runs
    assert [j.id for j in await claim(sessions, "c", clock.now())] == [backoff]


async def test_extend_keeps_the_lease_past_its_first_expiry(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    await add_jobs(sessions, START)
    [job] = await claim(sessions, "a", clock.now())

    clock.advance(timedelta(seconds=50))
    async with sessions() as session, session.begin():
        assert await extend(session, job, owner="a", now=clock.now(), lease=LEASE)
    clock.advance(timedelta(seconds=30))  # past the first expiry, within the extension

    assert await claim(sessions, "b", clock.now()) == []
    assert job.lease_expires_at == START + timedelta(seconds=110)


async def test_two_claimers_on_postgresql_never_get_the_same_row_at_once(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The first claim's transaction is still open (its rows locked): the second skips them
    instead of waiting, and gets the others."""
    now = FrozenClock(START).now()
    ids = await add_jobs(pg_sessions, *[START - timedelta(seconds=i) for i in range(5)])

    async with pg_sessions() as first, first.begin():
        mine = await claim_due(first, Job, owner="a", now=now, lease=LEASE, limit=3)
        theirs = await asyncio.wait_for(claim(pg_sessions, "b", now), timeout=5)

    assert len(mine) == 3
    assert len(theirs) == 2
    assert {j.id for j in mine} | {j.id for j in theirs} == set(ids)
    assert {j.id for j in mine} & {j.id for j in theirs} == set()


async def test_concurrent_claimers_on_postgresql_share_every_row_exactly_once(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = FrozenClock(START).now()
    ids = await add_jobs(pg_sessions, *[START - timedelta(seconds=i) for i in range(60)])
    claims: dict[str, list[int]] = {}

    async def claimer(owner: str) -> None:
        claims[owner] = []
        while batch := await claim(pg_sessions, owner, now, limit=3):
            claims[owner].extend(j.id for j in batch)
            await asyncio.sleep(0)

    await asyncio.gather(*(claimer(f"replica-{i}") for i in range(6)))

    every = [job_id for owned in claims.values() for job_id in owned]
    assert sorted(every) == sorted(ids), "each row claimed once, none twice"
    assert sum(1 for owned in claims.values() if owned) >= 2, claims
    async with pg_sessions() as session:
        owners = {row[0]: row[1] for row in await session.execute(select(Job.id, Job.lease_owner))}
    assert all(owners[job_id] == owner for owner, got in claims.items() for job_id in got)
